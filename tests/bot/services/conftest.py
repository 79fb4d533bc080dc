"""Services wired to the real database, with Discord replaced at the edge."""

from __future__ import annotations

import pytest

from bot.cache import MemoryCache
from bot.domain.config import GuildConfig
from bot.services.config import ConfigService
from bot.services.moderation import ModerationService
from db.engine import Database
from tests.bot.services.edge import FixedClock, RecordingGateway


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def gateway() -> RecordingGateway:
    return RecordingGateway()


@pytest.fixture
def config(database: Database, clock: FixedClock) -> ConfigService:
    return ConfigService(database, MemoryCache[GuildConfig](), clock)


@pytest.fixture
def service(
    database: Database, gateway: RecordingGateway, config: ConfigService, clock: FixedClock
) -> ModerationService:
    return ModerationService(database, gateway, config, clock)
