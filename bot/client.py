"""The Discord client: owns the gateway connection and hands work to services."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.cache import MemoryCache
from bot.discord_gateway import DiscordModerationGateway
from bot.domain.config import GuildConfig
from bot.domain.errors import LockdownError
from bot.services.config import ConfigService
from bot.services.container import Services
from bot.services.moderation import ModerationService
from bot.settings import Settings
from cogs._adapters import NO_MENTIONS
from cogs.bans import Bans
from cogs.cases import Cases
from cogs.kicks import Kicks
from cogs.mutes import Mutes
from cogs.notes import Notes
from cogs.warnings import Warnings
from db.engine import Database

log = logging.getLogger(__name__)

COGS = (Bans, Kicks, Mutes, Warnings, Notes, Cases)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def intents() -> discord.Intents:
    """Only what moderation needs: guilds, members, bans and audit-log events."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True
    wanted.moderation = True
    return wanted


class LockdownTree(app_commands.CommandTree["LockdownBot"]):
    """One place that turns errors into replies: clear text for the moderator,
    a traceback in the log only for bugs."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause = getattr(error, "original", error)
        if isinstance(cause, LockdownError):
            message = str(cause)
        elif isinstance(error, app_commands.TransformerError):
            message = f"`{error.value}` is not a valid {error.type.name.lower()} here."
        elif isinstance(error, app_commands.CheckFailure):
            message = "You are not allowed to use this command here."
        else:
            log.error("command %s failed", interaction.command, exc_info=error)
            message = "Something went wrong on my side; the error was logged."
        send = (
            interaction.followup.send
            if interaction.response.is_done()
            else interaction.response.send_message
        )
        try:
            await send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not tell %s about an error: %s", interaction.user, message)


class LockdownBot(commands.AutoShardedBot):
    def __init__(self, *, settings: Settings, database: Database) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            shard_count=settings.shard_count,
            # None (all shards) is discord.py's own default; its annotation omits it.
            shard_ids=settings.shard_ids,  # type: ignore[arg-type]
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            tree_cls=LockdownTree,
        )
        self.settings = settings
        self.database = database
        self.clock = SystemClock()
        config = ConfigService(database, MemoryCache[GuildConfig](), self.clock)
        moderation = ModerationService(database, DiscordModerationGateway(self), config, self.clock)
        self.services = Services(config=config, moderation=moderation)

    async def setup_hook(self) -> None:
        for cog in COGS:
            await self.add_cog(cog(self.services))
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """To the development guilds when set (instant), otherwise globally."""
        if self.settings.dev_guild_ids:
            for guild_id in self.settings.dev_guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Every guild the bot is in has a row, so its cases have somewhere to belong."""
        async with self.database.autocommit() as uow:
            await uow.guilds.record_join(guild.id, guild.name, now=self.clock.now())

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.on_guild_available(guild)

    async def on_ready(self) -> None:
        log.info(
            "connected as %s to %d guilds on shards %s",
            self.user,
            len(self.guilds),
            sorted(self.shards),
        )
