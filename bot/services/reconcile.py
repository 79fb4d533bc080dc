"""Keeping the case log true to Discord when things happen outside Lockdown.

Moderators also act in Discord's own client, and the bot can die between
acting and recording. Discord's audit log sees everything, so it is the
reconciliation source:

* Live, entries made by people become cases (once: the entry id is unique per
  guild). The bot's own entries are skipped, since the action that made them
  records its case itself.
* At start-up, every entry since the last start-up is read again. People's
  entries are recorded if the live event was missed; the bot's own entries are
  linked to the case they produced, or, if the bot died before recording one,
  the case is recorded then, credited to the moderator named in the reason.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.errors import AlreadyActive, DuplicateAuditEntry
from bot.domain.models import Case, CaseType, NewCase
from bot.domain.ports import Clock, DiscordFailure, ModerationGateway, ModLogEntry
from bot.domain.reasons import (
    audit_reason,
    moderator_from_audit_reason,
    reason_from_audit_reason,
)
from bot.events import CaseCreated, EventBus, MemoryEventBus
from bot.services import mutes
from bot.services.config import ConfigService
from bot.services.modlog import ModLog
from db.engine import Database
from db.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

#: How far back an own audit entry looks for the case it produced.
LINK_WINDOW = timedelta(minutes=10)


class ExternalKind(enum.StrEnum):
    BAN = "ban"
    UNBAN = "unban"
    KICK = "kick"
    TIMEOUT = "timeout"
    UNTIMEOUT = "untimeout"


#: The case each kind of audit entry becomes.
CASE_OF = {
    ExternalKind.BAN: CaseType.BAN,
    ExternalKind.UNBAN: CaseType.UNBAN,
    ExternalKind.KICK: CaseType.KICK,
    ExternalKind.TIMEOUT: CaseType.MUTE,
    ExternalKind.UNTIMEOUT: CaseType.UNMUTE,
}
#: The cases an own entry may have come from (a softban bans and unbans; a pardon lifts).
PRODUCED_BY = {
    ExternalKind.BAN: (CaseType.BAN, CaseType.SOFTBAN),
    ExternalKind.UNBAN: (CaseType.UNBAN, CaseType.SOFTBAN, CaseType.PARDON),
    ExternalKind.KICK: (CaseType.KICK,),
    ExternalKind.TIMEOUT: (CaseType.MUTE,),
    ExternalKind.UNTIMEOUT: (CaseType.UNMUTE, CaseType.PARDON),
}
#: What an entry ends, and what it replaces.
ENDS = {ExternalKind.UNBAN: CaseType.BAN, ExternalKind.UNTIMEOUT: CaseType.MUTE}
REPLACES = {ExternalKind.BAN: CaseType.BAN, ExternalKind.TIMEOUT: CaseType.MUTE}


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One Discord audit-log entry, as plain values."""

    guild_id: int
    entry_id: int
    kind: ExternalKind
    actor_id: int
    target_id: int
    reason: str | None
    at: datetime
    until: datetime | None = None  # a timeout's end


class ReconcileService:
    def __init__(
        self,
        database: Database,
        gateway: ModerationGateway,
        config: ConfigService,
        clock: Clock,
        *,
        bot_id: Callable[[], int],
        events: EventBus | None = None,
    ) -> None:
        self._database = database
        self._gateway = gateway
        self._config = config
        self._modlog = ModLog(config, gateway)
        self._clock = clock
        self._bot_id = bot_id
        self._events = events or MemoryEventBus()

    async def observe(self, record: AuditRecord) -> Case | None:
        """A live audit-log entry: record what a person did in Discord's client."""
        if record.actor_id == self._bot_id():
            return None
        return await self._record_person(record)

    async def _record_person(self, record: AuditRecord) -> Case | None:
        if not (await self._config.get(record.guild_id)).enabled("ui_capture"):
            return None
        return await self._record(record, moderator_id=record.actor_id, reason=record.reason)

    async def catch_up(self, guild_id: int, records: list[AuditRecord]) -> int:
        """Reconcile entries since the last start-up (oldest first); how many became cases."""
        recorded = 0
        for record in sorted(records, key=lambda r: r.entry_id):
            if record.actor_id == self._bot_id():
                case = await self._settle_own(record)
            else:
                case = await self._record(
                    record, moderator_id=record.actor_id, reason=record.reason
                )
            recorded += case is not None
        if records:
            async with self._database.autocommit() as uow:
                await uow.guilds.set_audit_cursor(guild_id, max(r.entry_id for r in records))
        return recorded

    async def audit_cursor(self, guild_id: int) -> int | None:
        async with self._database.autocommit() as uow:
            return await uow.guilds.audit_cursor(guild_id)

    async def member_joined(self, guild_id: int, user_id: int) -> bool:
        """Re-apply a mute that is still in force to a member who left and came back."""
        now = self._clock.now()
        async with self._database.autocommit() as uow:
            mute = await uow.cases.active(guild_id, user_id, CaseType.MUTE)
        if mute is None or mute.expires_at is None or mute.expires_at <= now:
            return False
        bot_id = self._bot_id()
        reason = audit_reason("Lockdown", bot_id, f"re-applying the mute of case #{mute.number}")
        config = await self._config.get(guild_id)
        try:
            await mutes.impose(
                self._gateway, config, guild_id, user_id,
                expires_at=mute.expires_at, now=now, reason=reason,
            )  # fmt: skip
        except DiscordFailure as failure:
            log.warning("could not re-mute %s in guild %s: %s", user_id, guild_id, failure)
            return False
        return True

    async def _settle_own(self, record: AuditRecord) -> Case | None:
        """Link the bot's own entry to its case, or record the case a crash lost."""
        moderator = moderator_from_audit_reason(record.reason)
        if moderator is None or moderator == record.actor_id:
            return None  # expiries and renewals record themselves
        async with self._database.autocommit() as uow:
            if await uow.cases.find_by_audit_entry(record.guild_id, record.entry_id):
                return None
            case = await uow.cases.find_unlinked(
                record.guild_id,
                record.target_id,
                PRODUCED_BY[record.kind],
                since=record.at - LINK_WINDOW,
            )
            if case is not None:
                with contextlib.suppress(DuplicateAuditEntry):  # linked by another process
                    await uow.cases.link_audit_entry(record.guild_id, case.number, record.entry_id)
                return None
        reason = reason_from_audit_reason(record.reason)
        log.warning(
            "recording a %s in guild %s that was applied but never recorded",
            record.kind.value,
            record.guild_id,
        )
        return await self._record(record, moderator_id=moderator, reason=reason)

    async def _record(
        self, record: AuditRecord, *, moderator_id: int, reason: str | None
    ) -> Case | None:
        now = self._clock.now()
        new = NewCase(
            type=CASE_OF[record.kind],
            target_id=record.target_id,
            moderator_id=moderator_id,
            created_at=record.at,
            reason=reason,
            expires_at=record.until if record.kind is ExternalKind.TIMEOUT else None,
            active=record.kind in REPLACES,
            audit_log_entry_id=record.entry_id,
        )
        try:
            async with self._database.transaction() as uow:
                if await uow.cases.find_by_audit_entry(record.guild_id, record.entry_id):
                    return None
                ended = await self._end(uow, record, moderator_id, reason, now)
                if ended is not None:
                    new = replace(new, related_number=ended.number)
                case = await uow.cases.create(record.guild_id, new)
        except (DuplicateAuditEntry, AlreadyActive):
            return None  # another process recorded it first
        await self._events.publish(CaseCreated.of(case))
        entry = ModLogEntry(case, str(case.target_id), str(moderator_id), None, "done in Discord")
        await self._modlog.post(record.guild_id, entry)
        return case

    async def _end(
        self,
        uow: UnitOfWork,
        record: AuditRecord,
        moderator_id: int,
        reason: str | None,
        now: datetime,
    ) -> Case | None:
        """End what this entry ends (an unban ends a ban) or replaces (a new timeout)."""
        kind = ENDS.get(record.kind) or REPLACES.get(record.kind)
        if kind is None:
            return None
        return await uow.cases.end_active(
            record.guild_id,
            record.target_id,
            kind,
            revoked_by=moderator_id,
            revoked_at=now,
            revoke_reason=reason if record.kind in ENDS else "replaced in Discord",
        )
