"""`/status`: what this process runs and how its shared state is doing."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.limits import ELLIPSIS
from bot.domain.access import SEE_STATUS, require
from bot.services.container import Services
from bot.services.status import ProcessStatus
from cogs._adapters import actor, reply
from cogs._render import fit_lines

#: A process may run hundreds of shards; their line stays readable.
SHARDS_SHOWN = 300


def describe(status: ProcessStatus) -> str:
    cache = status.config_cache
    shared = "Redis (shared by every process)" if status.shared_through_redis else "this process"
    shards, _ = fit_lines(
        [str(shard) for shard in status.shard_ids],
        SHARDS_SHOWN,
        sep=", ",
        more=lambda n: f"{ELLIPSIS}and {n} more",
    )
    return "\n".join(
        [
            f"Shards {shards} of {status.shard_count}",
            f"Rate limits, cooldowns, cache and events: {shared}",
            f"Config cache: {cache.l1_hits} in-process hits, {cache.l2_hits} Redis hits, "
            f"{cache.misses} misses ({cache.hit_ratio:.0%} hit ratio)",
            f"Events from other processes: {status.events_received}",
        ]
    )


class Status(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(description="This bot process: shards, shared state, cache counters")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def status(self, interaction: discord.Interaction) -> None:
        require(SEE_STATUS, actor(interaction))  # no service acts for a person here
        await reply(interaction, describe(self.services.status.read()), ephemeral=True)
