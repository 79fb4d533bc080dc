"""The Discord client: owns the gateway connection and hands work to services."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.settings import Settings
from db.engine import Database

log = logging.getLogger(__name__)


def intents() -> discord.Intents:
    """Only what moderation needs: guilds, members, bans and audit-log events."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True
    wanted.moderation = True
    return wanted


class LockdownBot(commands.AutoShardedBot):
    def __init__(self, *, settings: Settings, database: Database) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            shard_count=settings.shard_count,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            # None (all shards) is discord.py's own default; its annotation omits it.
            shard_ids=settings.shard_ids,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.database = database

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (%s) to %d guilds on shards %s",
            self.user,
            self.user.id if self.user else "?",
            len(self.guilds),
            sorted(self.shards),
        )
