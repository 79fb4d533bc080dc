"""The composition root: every service built from `Settings` in one place.

The gateway bot, the command line, the tests and the web process build their
services here, so each gets the same wiring. What differs is passed in: how
to act on Discord (the bot's own HTTP client, or one logged in by token),
who the bot is, and which shards this process owns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.ports import Clock, DiscordActions
from bot.domain.shards import ShardScope
from bot.infra.clock import SystemClock
from bot.infra.shared import Shared, shared_state
from bot.services.acting import ActingService
from bot.services.cases import CaseService
from bot.services.changes import ChangeLogService
from bot.services.commands import CommandSyncState
from bot.services.config import ConfigService
from bot.services.container import Services
from bot.services.data import DataService
from bot.services.escalation import EscalationService
from bot.services.locks import MemberLocks
from bot.services.massban import MassBanService
from bot.services.moderation import ModerationService
from bot.services.modlog import ModLog
from bot.services.names import NameBook
from bot.services.pardon import PardonService
from bot.services.policies import PolicyService
from bot.services.reconcile import ReconcileService
from bot.services.settling import IntentSettler
from bot.services.status import StatusService
from bot.services.throttle import CommandThrottle
from bot.services.timers import BotIdentity, TimerService
from bot.settings import Settings
from db.engine import Database


def build_services(
    settings: Settings,
    database: Database,
    shared: Shared,
    discord: DiscordActions,
    *,
    identity: Callable[[], BotIdentity],
    scope: Callable[[], ShardScope],
    clock: Clock | None = None,
    metrics: Metrics = NO_METRICS,
) -> Services:
    """Wire every service; nothing here opens a connection or starts a task.

    `metrics` is what they report to (`shared` and `database` report on their own:
    see `shared_state` and `Database.observe`)."""
    clock = clock or SystemClock()
    config = ConfigService(database, shared.config_cache, clock)
    names = NameBook(database, clock)
    modlog = ModLog(config, discord, names)
    locks = MemberLocks(database, clock)
    acting = ActingService(
        database,
        discord,
        config,
        clock,
        limiter=shared.limiter,
        events=shared.bus,
        modlog=modlog,
        names=names,
        locks=locks,
        metrics=metrics,
    )
    escalation = EscalationService(database, config, acting, modlog, metrics)
    timers = TimerService(
        database,
        discord,
        config,
        clock,
        identity=identity,
        scope=scope,
        modlog=modlog,
        metrics=metrics,
    )
    shared.bus.subscribe(timers.on_event)
    shared.bus.on_reconnect(timers.wake)  # a case may have come meanwhile
    return Services(
        config=config,
        moderation=ModerationService(acting, escalation),
        acting=acting,
        escalation=escalation,
        massban=MassBanService(
            database,
            discord,
            config,
            clock,
            events=shared.bus,
            modlog=modlog,
            names=names,
            metrics=metrics,
        ),
        pardons=PardonService(
            database, discord, config, clock, modlog=modlog, names=names, metrics=metrics
        ),
        cases=CaseService(database, config, clock),
        policies=PolicyService(database, clock),
        changes=ChangeLogService(database),
        timers=timers,
        reconcile=ReconcileService(
            database,
            discord,
            config,
            clock,
            bot_id=lambda: identity().id,
            events=shared.bus,
            modlog=modlog,
            names=names,
            locks=locks,
            metrics=metrics,
        ),
        data=DataService(database, config, clock),
        throttle=CommandThrottle(
            shared.limiter,
            shared.cooldowns,
            limit=settings.command_limit,
            window=settings.command_window_seconds,
            on_burst=acting.report_burst,
            metrics=metrics,
        ),
        commands=CommandSyncState(database, clock),
        names=names,
        status=StatusService(shared, scope),
        settling=IntentSettler(
            database,
            discord,
            config,
            clock,
            scope=scope,
            events=shared.bus,
            modlog=modlog,
            locks=locks,
            stale_after=timedelta(seconds=settings.pending_settle_seconds),
        ),
    )


@dataclass(frozen=True, slots=True)
class App:
    """One process's open resources and the services built on them."""

    settings: Settings
    database: Database
    shared: Shared
    services: Services


def all_shards(settings: Settings) -> ShardScope:
    count = settings.shard_count or 1
    return ShardScope(count, frozenset(settings.shard_ids or range(count)))


@asynccontextmanager
async def open_app(
    settings: Settings,
    discord: DiscordActions,
    *,
    identity: Callable[[], BotIdentity],
    scope: Callable[[], ShardScope] | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[App]:
    """Open the database and shared state, build the services, and close them after.

    For processes without a gateway connection (the command line, the web
    process, tests); the gateway bot builds its services in `setup_hook`.
    """
    database = Database(settings.database_url)
    shared = shared_state(settings.redis_url)
    try:
        services = build_services(
            settings,
            database,
            shared,
            discord,
            identity=identity,
            scope=scope or (lambda: all_shards(settings)),
            clock=clock,
        )
        yield App(settings, database, shared, services)
        await services.names.flush()
    finally:
        await shared.close()
        await database.dispose()
