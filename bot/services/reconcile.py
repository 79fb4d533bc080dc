"""Keeping the case log true to Discord when things happen outside Lockdown.

Moderators also act in Discord's own client, and the bot can die between
acting and recording. Discord's audit log sees everything, so it is the
reconciliation source:

* Live, entries made by people become cases (once: the entry id is unique per
  guild). The bot's own entries are skipped, since the action that made them
  records its case itself.
* At start-up, every entry since the last start-up is read again. People's
  entries are recorded if the live event was missed; the bot's own entries are
  linked to the case they name. Such a case may still be pending (the bot died
  between Discord's answer and the confirmation): settling it is left to the
  sweep (`IntentSettler`), which reads what Discord shows now under the
  member's lease; an entry says what happened then, and a moderator may have
  acted on the member since. Only entries of a bot too old to record intents
  (their reasons name no case) can reveal an action never recorded at all; that
  case is recorded then, credited to the moderator named in the reason. A
  catch-up can run again at any time (after an outage cut live events short):
  an entry is recorded at most once.
* A mute in force is re-applied to a member who comes back, and at start-up to
  one who came back while no process was watching.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import AlreadyActive, DuplicateAuditEntry
from bot.domain.lifecycle import (
    Action,
    CaseState,
    DiscordEntry,
    possible_sources,
    recorded_from_discord,
)
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.models import Case, NewCase
from bot.domain.ports import Clock, DiscordActions, DiscordFailure
from bot.domain.reasons import (
    audit_reason,
    case_from_audit_reason,
    moderator_from_audit_reason,
    reason_from_audit_reason,
)
from bot.infra.events import CaseCreated, EventBus
from bot.services import actionlog, enforcement
from bot.services.config import ConfigService
from bot.services.locks import MemberBusy, MemberLocks
from bot.services.modlog import ModLog
from bot.services.names import NameBook
from bot.services.recording import record_case
from db.engine import Database
from db.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

#: How far back an own audit entry looks for the case it produced.
LINK_WINDOW = timedelta(minutes=10)
#: Mutes in force read at a time when restoring them at start-up.
BATCH = 100
#: Pending cases that may change whether a member's mute should be in force.
AFFECT_MUTES = frozenset({Action.MUTE, Action.UNMUTE, Action.PARDON})


class MuteCheck(enum.Enum):
    REAPPLIED = "re-applied"
    IN_ORDER = "in order"  # nothing in force, or Discord shows it, or they are away
    PUT_OFF = "put off"  # to be checked again later


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One Discord audit-log entry, as plain values."""

    guild_id: int
    entry_id: int
    kind: DiscordEntry
    actor_id: int
    target_id: int
    reason: str | None
    at: datetime
    until: datetime | None = None  # a timeout's end
    actor_name: str | None = None
    target_name: str | None = None


class ReconcileService:
    def __init__(
        self,
        database: Database,
        discord: DiscordActions,
        config: ConfigService,
        clock: Clock,
        *,
        bot_id: Callable[[], int],
        events: EventBus,
        modlog: ModLog,
        names: NameBook,
        locks: MemberLocks,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._locks = locks
        self._metrics = metrics
        self._database = database
        self._discord = discord
        self._config = config
        self._modlog = modlog
        self._names = names
        self._clock = clock
        self._bot_id = bot_id
        self._events = events

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
        """Reconcile entries made since the last catch-up; how many became cases."""
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

    async def member_joined(self, guild_id: int, user_id: int) -> MuteCheck:
        """Re-apply a mute that is still in force to a member who left and came back."""
        return await self._check_mute(guild_id, user_id, returned=True)

    async def restore_mutes(self, guild_id: int) -> Counter[MuteCheck]:
        """Re-apply the mutes in force that Discord no longer shows: their members came
        back while no process was watching (the bot was down, or its database). At
        start-up, and again while some were put off."""
        checks: Counter[MuteCheck] = Counter()
        after = 0
        while True:
            async with self._database.autocommit() as uow:
                mutes = await uow.cases.in_force(guild_id, Action.MUTE, after=after, limit=BATCH)
            for mute in mutes:
                checks[await self._check_mute(guild_id, mute.target_id, returned=False)] += 1
            if len(mutes) < BATCH:
                return checks
            after = mutes[-1].number

    async def _check_mute(self, guild_id: int, user_id: int, *, returned: bool) -> MuteCheck:
        """Under the member's lease, impose their mute in force again if Discord does
        not show it (`returned`: they just came back, so it cannot). Put off while an
        action on them runs, or one a crash cut short still awaits the sweep: an unmute
        done on Discord but not confirmed would be undone."""
        try:
            async with self._locks.hold(guild_id, user_id):
                async with self._database.autocommit() as uow:
                    mute = await uow.cases.active(guild_id, user_id, Action.MUTE)
                    pending = await uow.cases.pending_for(guild_id, user_id)
                now = self._clock.now()
                if mute is None or mute.expires_at is None or mute.expires_at <= now:
                    return MuteCheck.IN_ORDER
                if any(case.type in AFFECT_MUTES for case in pending):
                    return MuteCheck.PUT_OFF
                config = await self._config.get(guild_id)
                if not returned:
                    member = await self._discord.membership(guild_id, user_id)
                    if member is None or member.muted(now, config.mute_role_id):
                        return MuteCheck.IN_ORDER
                reason = audit_reason(
                    "Lockdown", self._bot_id(), f"re-applying the mute of case #{mute.number}"
                )
                await enforcement.impose_mute(
                    self._discord, config, guild_id, user_id,
                    expires_at=mute.expires_at, now=now, reason=reason,
                )  # fmt: skip
                return MuteCheck.REAPPLIED
        except MemberBusy:
            return MuteCheck.PUT_OFF
        except DiscordFailure as failure:
            log.warning("could not re-mute %s in guild %s: %s", user_id, guild_id, failure)
            return MuteCheck.PUT_OFF

    async def _settle_own(self, record: AuditRecord) -> Case | None:
        """Link the bot's own entry to its case, or record the case an old bot lost."""
        moderator = moderator_from_audit_reason(record.reason)
        if moderator is None or moderator == record.actor_id:
            return None  # expiries and renewals record themselves
        async with self._database.autocommit() as uow:
            if await uow.cases.find_by_audit_entry(record.guild_id, record.entry_id):
                return None
            case = await self._own_case(uow, record)
            if case is not None and case.audit_log_entry_id is None:
                with contextlib.suppress(DuplicateAuditEntry):  # linked by another process
                    await uow.cases.link_audit_entry(record.guild_id, case.number, record.entry_id)
        if case is not None or case_from_audit_reason(record.reason) is not None:
            return None  # its case exists: the sweep settles it if it is still pending
        reason = reason_from_audit_reason(record.reason)
        log.warning(
            "recording a %s in guild %s that was applied but never recorded",
            record.kind.value,
            record.guild_id,
        )
        return await self._record(record, moderator_id=moderator, reason=reason)

    @staticmethod
    async def _own_case(uow: UnitOfWork, record: AuditRecord) -> Case | None:
        """The case the bot's own entry came from, to link it to: the one its reason
        names, or (for entries written before reasons named cases) the newest
        unlinked one that could have produced it. A failed case is not linked."""
        sources = possible_sources(record.kind)
        number = case_from_audit_reason(record.reason)
        if number is None:
            return await uow.cases.find_unlinked(
                record.guild_id, record.target_id, sources, since=record.at - LINK_WINDOW
            )
        case = await uow.cases.get(record.guild_id, number)
        if (
            case is None
            or case.type not in sources
            or case.target_id != record.target_id
            or case.state is CaseState.FAILED
        ):
            return None
        return case  # a softban's second entry names a case its first one linked

    async def _record(
        self, record: AuditRecord, *, moderator_id: int, reason: str | None
    ) -> Case | None:
        """Record what an entry did, ending or replacing what it ends (an unban ends
        the ban; a new timeout replaces the mute)."""
        if record.actor_name:
            self._names.remember(record.actor_id, record.actor_name)
        if record.target_name:
            self._names.remember(record.target_id, record.target_name)
        kind = recorded_from_discord(record.kind)
        new = NewCase(
            type=kind.action,
            target_id=record.target_id,
            moderator_id=moderator_id,
            created_at=record.at,
            reason=reason,
            expires_at=record.until if record.kind is DiscordEntry.TIMEOUT else None,
            state=kind.confirmed_state,
            audit_log_entry_id=record.entry_id,
        )
        try:
            recorded = await record_case(
                self._database,
                record.guild_id,
                new,
                revoked_by=moderator_id,
                revoke_reason=reason if kind.ends else "replaced in Discord",
            )
        except (DuplicateAuditEntry, AlreadyActive):
            return None  # another process recorded it first
        assert recorded is not None
        case = recorded.case
        self._metrics.case_recorded(case.type.value)
        actionlog.record(
            action=case.type.value,
            outcome="recorded",
            guild=case.guild_id,
            actor=moderator_id,
            target=case.target_id,
            case=case.number,
            message=f"{case.type.value} done in Discord recorded",
        )
        await self._events.publish(CaseCreated.of(case))
        await self._modlog.post(case, note="done in Discord")
        return case
