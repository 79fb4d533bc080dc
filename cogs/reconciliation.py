"""Discord's audit log and member joins, handed to the reconciliation service."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import discord
from discord.ext import commands

from bot.domain.errors import DatabaseUnavailable
from bot.domain.lifecycle import DiscordEntry
from bot.services.container import Services
from bot.services.reconcile import AuditRecord, MuteCheck

log = logging.getLogger(__name__)

KINDS = {
    discord.AuditLogAction.ban: DiscordEntry.BAN,
    discord.AuditLogAction.unban: DiscordEntry.UNBAN,
    discord.AuditLogAction.kick: DiscordEntry.KICK,
}
WATCHED = (*KINDS, discord.AuditLogAction.member_update)
#: How many entries per guild start-up reconciliation reads at most.
CATCH_UP_LIMIT = 500
#: Seconds after a database outage cut reconciliation short before it runs again.
RETRY_AFTER = 30.0


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
        kind = DiscordEntry.TIMEOUT if until is not None else DiscordEntry.UNTIMEOUT
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
        actor_name=str(entry.user) if entry.user is not None else None,
        target_name=str(target) if isinstance(target, discord.User | discord.Member) else None,
    )


class Reconciliation(commands.Cog):
    """Live audit-log entries and joins, and a catch-up per guild once per process
    (and again after a database outage cut any of them short).

    Guilds are caught up one at a time, in the order they become available, by
    one worker: a bot in thousands of guilds reads their audit logs in turn,
    never all at once.
    """

    def __init__(self, services: Services) -> None:
        self.service = services.reconcile
        self._queued: set[int] = set()
        self._retrying: set[int] = set()
        self._queue: asyncio.Queue[discord.Guild] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._worker = asyncio.create_task(self._catch_up_in_turn())

    async def cog_unload(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    @commands.Cog.listener()
    async def on_audit_log_entry_create(self, entry: discord.AuditLogEntry) -> None:
        record = to_record(entry)
        if record is None:
            return
        try:
            await self.service.observe(record)
        except DatabaseUnavailable:
            self._again_later(entry.guild, "the database is unavailable: an audit-log entry waits")

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        try:
            checked = await self.service.member_joined(member.guild.id, member.id)
        except DatabaseUnavailable:
            checked = MuteCheck.PUT_OFF
        if checked is MuteCheck.PUT_OFF:
            self._again_later(member.guild, "a returning member's mute could not be checked yet")

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Once per process and guild: read what happened while the bot was away."""
        if guild.id not in self._queued:
            self._queued.add(guild.id)
            self._queue.put_nowait(guild)

    def _again_later(self, guild: discord.Guild, why: str) -> None:
        """Something could not be handled now (the database was away, the member busy):
        catch the guild up again in a while. The audit log keeps every entry, and
        restoring mutes finds every member whose mute is not in place."""
        log.warning("guild %s: %s; catching up again in %.0f s", guild.id, why, RETRY_AFTER)
        if guild.id in self._retrying:
            return
        self._retrying.add(guild.id)

        def again() -> None:
            self._retrying.discard(guild.id)
            self._queue.put_nowait(guild)

        asyncio.get_running_loop().call_later(RETRY_AFTER, again)

    async def _catch_up_in_turn(self) -> None:
        while True:
            guild = await self._queue.get()
            try:
                await self.catch_up(guild)
                checks = await self.service.restore_mutes(guild.id)
                if checks[MuteCheck.PUT_OFF]:
                    self._again_later(
                        guild,
                        f"{checks[MuteCheck.PUT_OFF]} mutes in force could not be checked yet "
                        "(an action on the member runs, or awaits the sweep)",
                    )
                else:
                    log.info(
                        "guild %s caught up: every mute in force is in place (%d re-applied)",
                        guild.id, checks[MuteCheck.REAPPLIED],
                    )  # fmt: skip
            except discord.HTTPException as error:
                log.warning("could not read the audit log of guild %s: %s", guild.id, error)
            except DatabaseUnavailable:
                self._again_later(guild, "the database is unavailable: its catch-up waits")
            except Exception:
                # A stopped bot resumes from the same cursor at its next start.
                log.exception("catching up with guild %s failed", guild.id)

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
