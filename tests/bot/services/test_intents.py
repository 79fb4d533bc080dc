"""Never half-done: a durable intent before every Discord call, and one action at a
time per member. Real databases; Discord replaced at the edge."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.domain.errors import DatabaseUnavailable
from bot.domain.lifecycle import Action, CaseState
from bot.domain.ports import DiscordFailure
from bot.domain.reasons import UnstorableText
from bot.services.acting import ActionFailed, AlreadyDone, RecordedLater
from bot.services.container import Services
from bot.services.throttle import Throttled
from db import migrate
from db.engine import Database
from tests.bot.services.conftest import build
from tests.bot.services.edge import MEMBER, NOW, FixedClock, RecordingGateway, request


async def all_cases(database: Database, guild_id: int) -> list[tuple[int, Action, CaseState]]:
    async with database.autocommit() as uow:
        cases = await uow.cases.history(guild_id, MEMBER, include_failed=True)
    return [(c.number, c.type, c.state) for c in reversed(cases)]


async def test_the_dm_names_the_case_it_is_about(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    outcome = await services.moderation.act(request(guild_id, Action.WARN))
    [(_, _, text)] = [call for call in gateway.calls if call[0] == "dm"]
    assert f"(case #{outcome.case.number})" in str(text)
    assert outcome.case.dm_message_id is not None


async def test_a_refused_ban_is_kept_as_failed_and_its_dm_is_taken_back(
    services: Services, database: Database, gateway: RecordingGateway, guild_id: int
) -> None:
    gateway.failures["ban"] = DiscordFailure(403, 50013, "Missing Permissions")
    with pytest.raises(ActionFailed, match="Discord refused to ban them"):
        await services.moderation.act(request(guild_id, Action.BAN))
    assert gateway.names() == ["dm", "ban", "delete_dm"]
    assert await all_cases(database, guild_id) == [(1, Action.BAN, CaseState.FAILED)]
    async with database.autocommit() as uow:
        assert await uow.cases.history(guild_id, MEMBER) == []  # not shown by default
    del gateway.failures["ban"]
    banned = await services.moderation.act(request(guild_id, Action.BAN))
    assert banned.case.number == 2  # the failed case kept its number


async def test_free_text_no_database_can_store_is_refused_before_anything(
    services: Services, database: Database, gateway: RecordingGateway, guild_id: int
) -> None:
    for unstorable in ("a\x00b", "bell\x07", "half \ud800 pair"):
        with pytest.raises(UnstorableText, match="control character"):
            await services.moderation.act(request(guild_id, Action.BAN, reason=unstorable))
    assert gateway.calls == []
    assert await all_cases(database, guild_id) == []
    kept = await services.moderation.act(request(guild_id, Action.NOTE, reason="line\n\ttab"))
    assert kept.case.reason == "line\n\ttab"


@pytest.fixture
async def fragile(
    database_url: str, gateway: RecordingGateway, clock: FixedClock
) -> AsyncIterator[tuple[Services, Database]]:
    """Services on a database that gives up on a lock after 0.2 s instead of 15 s."""
    fast = Database(database_url, busy_timeout_ms=200)
    yield build(fast, gateway, clock), fast
    await fast.dispose()


async def lock_sqlite(url: str) -> sqlite3.Connection:
    """Another connection that holds the write lock, as a stuck writer would.

    Taken in a thread: the bot's own statements finish on the event loop (a
    RETURNING row is fetched after its statement ran), so blocking the loop while
    waiting for the lock could wait on ourselves.
    """

    def take() -> sqlite3.Connection:
        holder = sqlite3.connect(
            url.split("///", 1)[1], isolation_level=None, check_same_thread=False
        )
        holder.execute("BEGIN IMMEDIATE")
        return holder

    return await asyncio.to_thread(take)


async def test_a_database_that_cannot_take_the_intent_refuses_before_discord(
    backend: str,
    database_url: str,
    fragile: tuple[Services, Database],
    gateway: RecordingGateway,
    guild_id: int,
) -> None:
    services, _ = fragile
    await services.config.get(guild_id)  # the configuration is cached: only the write fails
    if backend == "sqlite":
        holder = await lock_sqlite(database_url)
        try:
            with pytest.raises(DatabaseUnavailable, match="nothing was done"):
                await services.moderation.act(request(guild_id, Action.BAN))
        finally:
            holder.rollback()
            holder.close()
    else:
        down = Database("postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
        try:
            lost = build(down, gateway, FixedClock())
            with pytest.raises(DatabaseUnavailable, match="nothing was done"):
                await lost.moderation.act(request(guild_id, Action.BAN))
        finally:
            await down.dispose()
    assert gateway.calls == []  # no DM, no ban


async def test_a_database_lost_after_discord_acted_says_so_and_keeps_the_intent(
    tmp_path: Path, gateway: RecordingGateway, clock: FixedClock, now: datetime
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lost.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(url, busy_timeout_ms=200)
    services = build(database, gateway, clock)
    guild_id = 1
    async with database.autocommit() as uow:
        await uow.guilds.record_join(guild_id, "g", now=now)
    holder: list[sqlite3.Connection] = []

    async def lock() -> None:
        holder.append(await lock_sqlite(url))

    gateway.during["ban"] = lock
    try:
        with pytest.raises(RecordedLater, match=r"Banned member on Discord.*case #1 is still"):
            await services.moderation.act(request(guild_id, Action.BAN))
    finally:
        holder[0].rollback()
        holder[0].close()
    assert await all_cases(database, guild_id) == [(1, Action.BAN, CaseState.PENDING)]
    await database.dispose()


async def test_actions_on_one_member_run_one_at_a_time(
    services: Services, database: Database, gateway: RecordingGateway, guild_id: int
) -> None:
    busy = 0
    most = 0

    async def slow() -> None:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        await asyncio.sleep(0.01)
        busy -= 1

    gateway.during.update(ban=slow, unban=slow)
    actions = [Action.BAN, Action.UNBAN] * 5
    await asyncio.gather(
        *(services.moderation.act(request(guild_id, a)) for a in actions), return_exceptions=True
    )
    assert most == 1
    last = [c[0] for c in gateway.calls if c[0] in ("ban", "unban")][-1]
    async with database.autocommit() as uow:
        ban = await uow.cases.active(guild_id, MEMBER, Action.BAN)
        leases = (await uow.execute(text("SELECT COUNT(*) FROM member_locks"))).scalar_one()
    assert (ban is not None) == (last == "ban")  # what Discord did last is what is recorded
    assert leases == 0


async def test_a_moderator_banning_faster_than_the_pace_is_an_anti_nuke_alert(
    services: Services, database: Database, gateway: RecordingGateway, guild_id: int
) -> None:
    async with database.autocommit() as uow:
        await uow.settings.set(guild_id, "modlog_channel_id", 555, actor_id=1, now=NOW)
    await services.config.refresh(guild_id)
    for _ in range(10):  # the default pace is 10 commands per 10 s
        await services.throttle.admit(user_id=MEMBER, guild_id=guild_id, command="ban")
    with pytest.raises(Throttled):
        await services.throttle.admit(user_id=MEMBER, guild_id=guild_id, command="ban")
    [alert] = [call for call in gateway.calls if call[0] == "alert"]
    assert "faster than the command pace allows" in str(alert[2])
    async with database.autocommit() as uow:
        [entry] = await uow.changes.recent(guild_id, limit=1)
    assert (entry.action, entry.actor_id, entry.entity_id) == ("antinuke.burst", MEMBER, "ban")


async def test_banning_someone_banned_for_good_says_so_and_changes_nothing(
    services: Services, database: Database, gateway: RecordingGateway, guild_id: int
) -> None:
    first = await services.moderation.act(request(guild_id, Action.BAN))
    gateway.calls.clear()
    with pytest.raises(
        AlreadyDone, match=rf"member is already banned \(case #{first.case.number}\)"
    ):
        await services.moderation.act(request(guild_id, Action.BAN))
    assert gateway.calls == []
    assert await all_cases(database, guild_id) == [
        (first.case.number, Action.BAN, CaseState.ACTIVE)
    ]
