"""Discord's audit log and member joins, handed to the reconciliation service."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import discord
from discord.ext import commands

from bot.services.reconcile import AuditRecord, ExternalKind, ReconcileService

log = logging.getLogger(__name__)

KINDS = {
    discord.AuditLogAction.ban: ExternalKind.BAN,
    discord.AuditLogAction.unban: ExternalKind.UNBAN,
    discord.AuditLogAction.kick: ExternalKind.KICK,
}
WATCHED = (*KINDS, discord.AuditLogAction.member_update)
#: How many entries per guild start-up reconciliation reads at most.
CATCH_UP_LIMIT = 500


def to_record(entry: discord.AuditLogEntry) -> AuditRecord | None:
    """The plain record of a moderation entry; None for entries moderation ignores."""
    target = entry.target
    if target is None or entry.user_id is None:
        return None
    kind = KINDS.get(entry.action)
    until = None
    if entry.action is discord.AuditLogAction.member_update:
        if not hasattr(entry.after, "timed_out_until"):
            return None  # a nickname or other change
        until = entry.after.timed_out_until
        # Set means a timeout was given (it may have ended since); cleared means lifted.
        kind = ExternalKind.TIMEOUT if until is not None else ExternalKind.UNTIMEOUT
    if kind is None:
        return None
    return AuditRecord(
        guild_id=entry.guild.id,
        entry_id=entry.id,
        kind=kind,
        actor_id=entry.user_id,
        target_id=int(target.id),
        reason=entry.reason,
        at=entry.created_at,
        until=until,
    )


class Reconciliation(commands.Cog):
    def __init__(self, bot: commands.AutoShardedBot, service: ReconcileService) -> None:
        self.bot = bot
        self.service = service
        self._caught_up = False

    @commands.Cog.listener()
    async def on_audit_log_entry_create(self, entry: discord.AuditLogEntry) -> None:
        record = to_record(entry)
        if record is not None:
            await self.service.observe(record)

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        await self.service.member_joined(member.guild.id, member.id)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Once per process: read what happened while the bot was away."""
        if self._caught_up:
            return
        self._caught_up = True
        for guild in self.bot.guilds:
            try:
                await self.catch_up(guild)
            except discord.HTTPException as error:
                log.warning("could not read the audit log of guild %s: %s", guild.id, error)
            except Exception:
                if self.bot.is_closed():
                    return  # stopped mid-way: the next start resumes from the same cursor
                raise

    async def catch_up(self, guild: discord.Guild) -> None:
        if not guild.me.guild_permissions.view_audit_log:
            return
        cursor = await self.service.audit_cursor(guild.id)
        after = discord.Object(cursor) if cursor else datetime.now(UTC).replace(hour=0, minute=0)
        records = []
        async for entry in guild.audit_logs(limit=CATCH_UP_LIMIT, after=after, oldest_first=True):
            if entry.action in WATCHED and (record := to_record(entry)) is not None:
                records.append(record)
        recorded = await self.service.catch_up(guild.id, records)
        if recorded:
            log.info("recorded %d actions taken in guild %s while away", recorded, guild.id)
