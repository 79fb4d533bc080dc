"""Ending temporary punishments on time, exactly once, whatever happens in between.

The database is the only schedule: one loop per process asks for the earliest
timer of the guilds it owns, sleeps until then (or until an earlier timer is
added), and handles what is due. Nothing pending lives in memory, so 100,000
pending expiries cost one indexed query, a restart loses nothing, and timers
that fell due while the bot was down fire at start-up.

Ending is idempotent on Discord (unbanning twice is harmless) and exactly-once
in the database: the case is closed only while it is in force, and the closing
case is recorded in the same transaction, so of two racing attempts only one
records anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import DatabaseUnavailable
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.models import NewCase
from bot.domain.ports import Clock, DiscordActions, DiscordFailure
from bot.domain.reasons import audit_reason
from bot.domain.shards import ShardScope
from bot.infra.events import CaseCreated, Event
from bot.services import actionlog, enforcement
from bot.services.config import ConfigService
from bot.services.enforcement import MAX_TIMEOUT, RENEW_BEFORE
from bot.services.modlog import ModLog
from bot.services.recording import record_case
from db.engine import Database
from db.repositories.timers import Timer, TimerKind

log = logging.getLogger(__name__)

#: How long to wait before retrying a timer Discord failed, and the longest sleep.
RETRY_AFTER = timedelta(seconds=30)
IDLE_POLL = timedelta(minutes=5)
BATCH = 100


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: int
    name: str


class TimerService:
    def __init__(
        self,
        database: Database,
        discord: DiscordActions,
        config: ConfigService,
        clock: Clock,
        *,
        identity: Callable[[], BotIdentity],
        scope: Callable[[], ShardScope],
        modlog: ModLog,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._metrics = metrics
        self._database = database
        self._discord = discord
        self._config = config
        self._modlog = modlog
        self._clock = clock
        self._identity = identity
        self._scope = scope
        self._wake = asyncio.Event()
        self._stopping = False
        self._retry_at: dict[tuple[int, int, TimerKind], datetime] = {}

    def wake(self) -> None:
        """A timer was added; look again (it may be earlier than the current sleep)."""
        self._wake.set()

    def on_event(self, event: Event, local: bool) -> None:
        """A case with an expiry was recorded, here or in another process: if this
        process owns the guild, look again (the new timer may be the earliest)."""
        if (
            isinstance(event, CaseCreated)
            and event.expires_at is not None
            and self._scope().owns(event.guild_id)
        ):
            self.wake()

    def stop(self) -> None:
        """Finish the timer in hand, then return from `run` (for a clean shutdown)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Handle timers until stopped; the caller starts this once the gateway is ready."""
        while not self._stopping:
            self._wake.clear()
            try:
                delay = await self.run_due()
            except DatabaseUnavailable:
                log.warning("timers wait: the database is unavailable")
                delay = RETRY_AFTER.total_seconds()
            except Exception:  # a bug must not stop expiries for good
                log.exception("timer loop failed; retrying")
                delay = RETRY_AFTER.total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def counts(self) -> tuple[int, int]:
        """(pending, overdue): this process's timers not yet due, and due but not yet done."""
        async with self._database.autocommit() as uow:
            return await uow.timers.counts(self._scope(), self._clock.now())

    async def run_due(self) -> float:
        """Handle every due timer; return the seconds until the next one."""
        scope = self._scope()
        while True:
            now = self._clock.now()
            async with self._database.autocommit() as uow:
                due = await uow.timers.due(scope, now, limit=BATCH)
            ready = [t for t in due if self._retry_at.get(_key(t), now) <= now]
            for timer in ready:
                if self._stopping:
                    return 0.0
                await self._handle(timer, now)
            if len(due) < BATCH or not ready:
                break
        # The next timer not waiting for a retry: look past the deferred ones.
        async with self._database.autocommit() as uow:
            upcoming = await uow.timers.upcoming(scope, limit=len(self._retry_at) + 1)
        next_at = next((t.at for t in upcoming if _key(t) not in self._retry_at), None)
        now = self._clock.now()
        waits = [IDLE_POLL, *(at - now for at in self._retry_at.values())]
        if next_at is not None:
            waits.append(next_at - now)
        return max(min(waits).total_seconds(), 0.0)

    async def _handle(self, timer: Timer, now: datetime) -> None:
        try:
            if timer.kind is TimerKind.RENEW:
                await self._renew(timer, now)
            else:
                await self._expire(timer, now)
        except DiscordFailure as failure:
            log.warning(
                "could not %s case #%s in guild %s (%s); retrying in %s",
                timer.kind.value,
                timer.number,
                timer.guild_id,
                failure,
                RETRY_AFTER,
            )
            self._retry_at[_key(timer)] = now + RETRY_AFTER
            return
        self._retry_at.pop(_key(timer), None)

    async def _expire(self, timer: Timer, now: datetime) -> None:
        started = time.perf_counter()
        async with self._database.autocommit() as uow:
            case = await uow.cases.get(timer.guild_id, timer.number)
        if case is None or not case.active:
            return
        bot = self._identity()
        config = await self._config.get(case.guild_id)
        reason = audit_reason(bot.name, bot.id, f"case #{case.number} expired")
        await enforcement.lift(self._discord, config, case, reason=reason)
        closing = case.type.kind.closed_by
        if closing is None:  # an expired warning just stops counting
            async with self._database.autocommit() as uow:
                await uow.cases.close(timer.guild_id, case.number)
            return
        recorded = await record_case(
            self._database,
            timer.guild_id,
            NewCase(
                type=closing,
                target_id=case.target_id,
                moderator_id=bot.id,
                created_at=now,
                reason=f"Temporary {case.type.value} expired (case #{case.number})",
                state=closing.kind.confirmed_state,
            ),
            revoked_by=None,
            revoke_reason=None,
            ending=case.number,
        )
        if recorded is None:
            return  # ended meanwhile by a pardon or another process
        self._metrics.case_recorded(closing.value)
        actionlog.record(
            action=closing.value,
            outcome="done",
            guild=timer.guild_id,
            actor=bot.id,
            target=case.target_id,
            case=recorded.case.number,
            started=started,
            message=f"case #{case.number} in guild {timer.guild_id} expired",
            expired=case.number,
        )
        await self._modlog.post(recorded.case, note="expired", moderator_name=bot.name)

    async def _renew(self, timer: Timer, now: datetime) -> None:
        async with self._database.autocommit() as uow:
            case = await uow.cases.get(timer.guild_id, timer.number)
        if case is None or not case.active or case.expires_at is None:
            return
        if not (await self._config.get(timer.guild_id)).enabled("mute_renewal"):
            async with self._database.autocommit() as uow:  # the guild chose to let it lapse
                await uow.cases.set_renew_at(timer.guild_id, case.number, None)
            return
        until = min(case.expires_at, now + MAX_TIMEOUT)
        bot = self._identity()
        reason = audit_reason(bot.name, bot.id, f"renewing the timeout of case #{case.number}")
        try:
            await self._discord.timeout(case.guild_id, case.target_id, until=until, reason=reason)
        except DiscordFailure as failure:
            if failure.status != 404:
                raise  # 404: they left; the timeout is re-applied if they rejoin
        renew_at = until - RENEW_BEFORE if case.expires_at > until else None
        async with self._database.autocommit() as uow:
            await uow.cases.set_renew_at(timer.guild_id, case.number, renew_at)


def _key(timer: Timer) -> tuple[int, int, TimerKind]:
    return (timer.guild_id, timer.number, timer.kind)
