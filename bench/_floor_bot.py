"""The floor bot of `bench.command_latency`: discord.py and one no-op `/warn`, nothing else.

Not a benchmark: the benchmark starts it as `python -m bench._floor_bot`, a
process of its own like the real bot, with the emulator's endpoints and token
in the environment (the variables `BotProcess` sets: DISCORD_API_BASE_URL,
DISCORD_GATEWAY_URL, DISCORD_TOKEN) and the one guild in DEV_GUILD_IDS. Its
`/warn` has Lockdown's signature, intents and decorators, so discord.py parses
and dispatches the same INTERACTION_CREATE, and only defers, as Lockdown's does
first. It prints "connected as ..." when ready and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route


@app_commands.command(description="Warn a member")
@app_commands.describe(member="Member to warn", reason="Why")
@app_commands.guild_only()
@app_commands.default_permissions(moderate_members=True)
async def warn(interaction: discord.Interaction, member: discord.Member, reason: str) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)


class FloorBot(discord.Client):
    def __init__(self, guild: discord.Object) -> None:
        wanted = discord.Intents.none()  # Lockdown's intents (bot.discord_side.client.intents)
        wanted.guilds = True
        wanted.members = True
        wanted.moderation = True
        super().__init__(intents=wanted, allowed_mentions=discord.AllowedMentions.none())
        self.guild = guild
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.tree.add_command(warn, guild=self.guild)
        await self.tree.sync(guild=self.guild)

    async def on_ready(self) -> None:
        print(f"connected as {self.user}", flush=True)


async def serve() -> None:
    Route.BASE = os.environ["DISCORD_API_BASE_URL"]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    client = FloorBot(discord.Object(int(os.environ["DEV_GUILD_IDS"])))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(client.close()))
    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(serve())
