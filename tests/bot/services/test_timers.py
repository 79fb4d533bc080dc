"""Timers on both backends, with Discord replaced at the edge and a hand-moved clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import NewCase
from bot.domain.ports import DiscordFailure
from bot.domain.shards import ShardScope, shard_of
from bot.services.container import Services
from bot.services.enforcement import MAX_TIMEOUT, RENEW_BEFORE
from bot.services.timers import RETRY_AFTER, TimerService
from db import migrate
from db.engine import Database
from tests.bot.services.conftest import ALL_SHARDS, BOT, build
from tests.bot.services.edge import (
    MEMBER,
    MODERATOR,
    NOW,
    FixedClock,
    RecordingGateway,
    request,
)
from tests.helpers import record


@pytest.fixture
async def database(empty_url: str) -> AsyncIterator[Database]:
    """A database of this test's own: timers span guilds, so other tests' would fire."""
    await asyncio.to_thread(migrate.upgrade, empty_url)
    db = Database(empty_url)
    yield db
    await db.dispose()


@pytest.fixture
def pair(services: Services) -> tuple[Services, TimerService]:
    return services, services.timers


async def test_a_temporary_ban_ends_once_on_time(
    pair: tuple[Services, TimerService],
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    app, timers = pair
    ban = await app.moderation.act(request(guild_id, Action.BAN, duration=timedelta(hours=1)))
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
    unban, ended = (await app.cases.history(guild_id, MEMBER, actor=MODERATOR))[0]
    assert (ended.number, ended.active, ended.revoked_by) == (ban.case.number, False, None)
    assert (unban.type, unban.moderator_id, unban.related_number) == (
        Action.UNBAN,
        BOT.id,
        ban.case.number,
    )


async def test_racing_processes_end_a_ban_exactly_once(
    pair: tuple[Services, TimerService],
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    app, timers = pair
    await app.moderation.act(request(guild_id, Action.BAN, duration=timedelta(minutes=5)))
    twins = [build(database, gateway, clock, scope=ALL_SHARDS).timers for _ in range(4)]
    clock.at = NOW + timedelta(minutes=5)
    await asyncio.gather(*(twin.run_due() for twin in [timers, *twins]))

    page, _ = await app.cases.history(guild_id, MEMBER, actor=MODERATOR)
    assert [c.type for c in page] == [Action.UNBAN, Action.BAN]


async def test_only_the_owning_shard_acts(
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
    pair: tuple[Services, TimerService],
) -> None:
    app, _ = pair
    await app.moderation.act(request(guild_id, Action.BAN, duration=timedelta(minutes=5)))
    mine = shard_of(guild_id, 4)
    not_mine = ShardScope(4, frozenset(set(range(4)) - {mine}))
    others = build(database, gateway, clock, scope=not_mine).timers
    clock.at = NOW + timedelta(hours=1)
    gateway.calls.clear()
    await others.run_due()
    assert gateway.calls == []

    owner = build(database, gateway, clock, scope=ShardScope(4, frozenset({mine}))).timers
    await owner.run_due()
    assert gateway.names() == ["unban"]


async def test_long_mutes_are_renewed_before_the_timeout_lapses(
    pair: tuple[Services, TimerService],
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    app, timers = pair
    mute = await app.moderation.act(request(guild_id, Action.MUTE, duration=timedelta(days=40)))
    first_renewal = NOW + MAX_TIMEOUT - RENEW_BEFORE
    assert mute.case.renew_at == first_renewal
    gateway.calls.clear()

    clock.at = first_renewal
    await timers.run_due()
    [(name, user, until, _)] = gateway.calls
    assert (name, user, until) == ("timeout", MEMBER, NOW + timedelta(days=40))
    renewed = await app.cases.case(guild_id, mute.case.number, actor=MODERATOR)
    assert (renewed.active, renewed.renew_at) == (True, None)  # the end is now in reach

    clock.at = NOW + timedelta(days=40)
    await timers.run_due()
    assert gateway.names()[-1] == "timeout"
    assert gateway.calls[-1][2] is None  # lifted
    assert not (await app.cases.case(guild_id, mute.case.number, actor=MODERATOR)).active


async def test_expired_warnings_stop_counting_without_discord(
    pair: tuple[Services, TimerService],
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    app, timers = pair
    warned = await record(
        database,
        guild_id,
        NewCase(
            Action.WARN,
            MEMBER,
            20,
            NOW,
            reason="x",
            state=CaseState.ACTIVE,
            expires_at=NOW + timedelta(days=1),
        ),
    )
    clock.at = NOW + timedelta(days=1)
    await timers.run_due()
    assert gateway.calls == []
    case = await app.cases.case(guild_id, warned.number, actor=MODERATOR)
    assert case.active is False
    page, _ = await app.cases.history(guild_id, MEMBER, actor=MODERATOR)
    assert len(page) == 1  # no closing case


async def test_a_discord_failure_is_retried_later(
    pair: tuple[Services, TimerService],
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    app, timers = pair
    ban = await app.moderation.act(request(guild_id, Action.BAN, duration=timedelta(minutes=1)))
    gateway.failures["unban"] = DiscordFailure(503, 0, "Service Unavailable")
    clock.at = NOW + timedelta(minutes=1)
    delay = await timers.run_due()
    assert delay == pytest.approx(RETRY_AFTER.total_seconds(), abs=0.01)
    assert (await app.cases.case(guild_id, ban.case.number, actor=MODERATOR)).active

    del gateway.failures["unban"]
    clock.at += RETRY_AFTER
    await timers.run_due()
    assert not (await app.cases.case(guild_id, ban.case.number, actor=MODERATOR)).active


async def test_an_unban_discord_already_did_still_closes_the_case(
    pair: tuple[Services, TimerService],
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    app, timers = pair
    ban = await app.moderation.act(request(guild_id, Action.BAN, duration=timedelta(minutes=1)))
    gateway.failures["unban"] = DiscordFailure(404, 10026, "Unknown Ban")
    clock.at = NOW + timedelta(minutes=2)
    await timers.run_due()
    assert not (await app.cases.case(guild_id, ban.case.number, actor=MODERATOR)).active
