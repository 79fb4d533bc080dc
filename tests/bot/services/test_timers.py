"""Timers on both backends, with Discord replaced at the edge and a hand-moved clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.cache import MemoryCache
from bot.domain.config import GuildConfig
from bot.domain.hierarchy import Action
from bot.domain.models import CaseType, NewCase
from bot.domain.ports import DiscordFailure
from bot.domain.shards import ShardScope, shard_of
from bot.services.config import ConfigService
from bot.services.moderation import RENEW_BEFORE, ModerationService
from bot.services.mutes import MAX_TIMEOUT
from bot.services.timers import RETRY_AFTER, BotIdentity, TimerService
from db import migrate
from db.engine import Database
from tests.bot.services.edge import (
    MEMBER,
    NOW,
    FixedClock,
    RecordingGateway,
    request,
)

BOT = BotIdentity(30, "Lockdown")
ALL_SHARDS = ShardScope(1, frozenset({0}))


@pytest.fixture
async def database(empty_url: str) -> AsyncIterator[Database]:
    """A database of this test's own: timers span guilds, so other tests' would fire."""
    await asyncio.to_thread(migrate.upgrade, empty_url)
    db = Database(empty_url)
    yield db
    await db.dispose()


@pytest.fixture
def services(
    database: Database, gateway: RecordingGateway, clock: FixedClock
) -> tuple[ModerationService, TimerService]:
    config = ConfigService(database, MemoryCache[GuildConfig](), clock)
    moderation = ModerationService(database, gateway, config, clock)
    timers = TimerService(
        database, gateway, config, clock, identity=lambda: BOT, scope=lambda: ALL_SHARDS
    )
    return moderation, timers


async def test_a_temporary_ban_ends_once_on_time(
    services: tuple[ModerationService, TimerService],
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    moderation, timers = services
    ban = await moderation.act(request(guild_id, Action.BAN, duration=timedelta(hours=1)))
    gateway.calls.clear()

    clock.at = NOW + timedelta(minutes=59)
    delay = await timers.run_due()
    assert gateway.calls == []
    assert delay == pytest.approx(60, abs=0.01)

    clock.at = NOW + timedelta(hours=1)
    await timers.run_due()
    await timers.run_due()
    assert gateway.names() == ["unban"]
    assert gateway.calls[0][2] == f"Lockdown (30): case #{ban.case.number} expired"
    unban, ended = (await moderation.history(guild_id, MEMBER))[0]
    assert (ended.number, ended.active, ended.revoked_by) == (ban.case.number, False, None)
    assert (unban.type, unban.moderator_id, unban.related_number) == (
        CaseType.UNBAN,
        BOT.id,
        ban.case.number,
    )


async def test_racing_processes_end_a_ban_exactly_once(
    services: tuple[ModerationService, TimerService],
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    moderation, timers = services
    await moderation.act(request(guild_id, Action.BAN, duration=timedelta(minutes=5)))
    config = ConfigService(database, MemoryCache[GuildConfig](), clock)
    twins = [
        TimerService(
            database, gateway, config, clock, identity=lambda: BOT, scope=lambda: ALL_SHARDS
        )
        for _ in range(4)
    ]
    clock.at = NOW + timedelta(minutes=5)
    await asyncio.gather(*(twin.run_due() for twin in [timers, *twins]))

    page, _ = await moderation.history(guild_id, MEMBER)
    assert [c.type for c in page] == [CaseType.UNBAN, CaseType.BAN]


async def test_only_the_owning_shard_acts(
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
    services: tuple[ModerationService, TimerService],
) -> None:
    moderation, _ = services
    await moderation.act(request(guild_id, Action.BAN, duration=timedelta(minutes=5)))
    config = ConfigService(database, MemoryCache[GuildConfig](), clock)
    mine = shard_of(guild_id, 4)
    others = TimerService(
        database,
        gateway,
        config,
        clock,
        identity=lambda: BOT,
        scope=lambda: ShardScope(4, frozenset(set(range(4)) - {mine})),
    )
    clock.at = NOW + timedelta(hours=1)
    gateway.calls.clear()
    await others.run_due()
    assert gateway.calls == []

    owner = TimerService(
        database,
        gateway,
        config,
        clock,
        identity=lambda: BOT,
        scope=lambda: ShardScope(4, frozenset({mine})),
    )
    await owner.run_due()
    assert gateway.names() == ["unban"]


async def test_long_mutes_are_renewed_before_the_timeout_lapses(
    services: tuple[ModerationService, TimerService],
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    moderation, timers = services
    mute = await moderation.act(request(guild_id, Action.MUTE, duration=timedelta(days=40)))
    first_renewal = NOW + MAX_TIMEOUT - RENEW_BEFORE
    assert mute.case.renew_at == first_renewal
    gateway.calls.clear()

    clock.at = first_renewal
    await timers.run_due()
    [(name, user, until, _)] = gateway.calls
    assert (name, user, until) == ("timeout", MEMBER, NOW + timedelta(days=40))
    renewed = await moderation.case(guild_id, mute.case.number)
    assert (renewed.active, renewed.renew_at) == (True, None)  # the end is now in reach

    clock.at = NOW + timedelta(days=40)
    await timers.run_due()
    assert gateway.names()[-1] == "timeout"
    assert gateway.calls[-1][2] is None  # lifted
    assert not (await moderation.case(guild_id, mute.case.number)).active


async def test_expired_warnings_stop_counting_without_discord(
    services: tuple[ModerationService, TimerService],
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    moderation, timers = services
    warned = await database.record_case(
        guild_id,
        NewCase(
            CaseType.WARN,
            MEMBER,
            20,
            NOW,
            reason="x",
            active=True,
            expires_at=NOW + timedelta(days=1),
        ),
    )
    clock.at = NOW + timedelta(days=1)
    await timers.run_due()
    assert gateway.calls == []
    case = await moderation.case(guild_id, warned.number)
    assert case.active is False
    assert len((await moderation.history(guild_id, MEMBER))[0]) == 1  # no closing case


async def test_a_discord_failure_is_retried_later(
    services: tuple[ModerationService, TimerService],
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    moderation, timers = services
    ban = await moderation.act(request(guild_id, Action.BAN, duration=timedelta(minutes=1)))
    gateway.failures["unban"] = DiscordFailure(503, 0, "Service Unavailable")
    clock.at = NOW + timedelta(minutes=1)
    delay = await timers.run_due()
    assert delay == pytest.approx(RETRY_AFTER.total_seconds(), abs=0.01)
    assert (await moderation.case(guild_id, ban.case.number)).active

    del gateway.failures["unban"]
    clock.at += RETRY_AFTER
    await timers.run_due()
    assert not (await moderation.case(guild_id, ban.case.number)).active


async def test_an_unban_discord_already_did_still_closes_the_case(
    services: tuple[ModerationService, TimerService],
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    moderation, timers = services
    ban = await moderation.act(request(guild_id, Action.BAN, duration=timedelta(minutes=1)))
    gateway.failures["unban"] = DiscordFailure(404, 10026, "Unknown Ban")
    clock.at = NOW + timedelta(minutes=2)
    await timers.run_due()
    assert not (await moderation.case(guild_id, ban.case.number)).active
