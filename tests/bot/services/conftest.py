"""Services wired by the composition root to the real database, with Discord
replaced at the edge and a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import build_services
from bot.domain.shards import ShardScope
from bot.infra.shared import shared_state
from bot.services.config import ConfigService
from bot.services.container import Services
from bot.services.timers import BotIdentity
from bot.settings import load_settings
from db.engine import Database
from tests.bot.services.edge import FixedClock, RecordingGateway

BOT = BotIdentity(30, "Lockdown")
ALL_SHARDS = ShardScope(1, frozenset({0}))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()


def build(
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    *,
    scope: ShardScope = ALL_SHARDS,
) -> Services:
    """Every service, as the bot wires them, for a process owning `scope`."""
    return build_services(
        load_settings(database_url=database.engine.url.render_as_string(hide_password=False)),
        database,
        shared_state(None),
        gateway,
        identity=lambda: BOT,
        scope=lambda: scope,
        clock=clock,
    )


@pytest.fixture
async def services(
    database: Database, gateway: RecordingGateway, clock: FixedClock
) -> AsyncIterator[Services]:
    built = build(database, gateway, clock)
    yield built
    await built.names.flush()


@pytest.fixture
def config(services: Services) -> ConfigService:
    return services.config
