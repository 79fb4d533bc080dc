"""What the database layer tells the operator: statement latency on both paths, how
full the pools are, how many timers are waiting and overdue, the schema revision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from bot.domain.lifecycle import Action, CaseState
from bot.domain.metrics import NoMetrics
from bot.domain.models import NewCase
from bot.domain.shards import ShardScope, shard_of
from db import migrate
from db.engine import Database
from tests.conftest import new_snowflake

MODERATOR = 222_222_222_222_222_222


class Statements(NoMetrics):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def statement_finished(self, path: str, statement: str, seconds: float) -> None:
        assert seconds >= 0
        self.seen.append((path, statement))


@pytest.fixture
async def fresh(empty_url: str) -> AsyncIterator[Database]:
    """A migrated database of this test's own (timers span every guild it holds)."""
    await asyncio.to_thread(migrate.upgrade, empty_url)
    database = Database(empty_url)
    yield database
    await database.dispose()


async def new_guild(database: Database, now: datetime) -> int:
    guild_id = new_snowflake()
    async with database.transaction() as uow:
        await uow.guilds.record_join(guild_id, "Observed", now=now)
    return guild_id


def ban(target: int, now: datetime, expires_at: datetime | None) -> NewCase:
    return NewCase(
        type=Action.BAN,
        target_id=target,
        moderator_id=MODERATOR,
        created_at=now,
        expires_at=expires_at,
        state=CaseState.ACTIVE,
    )


async def test_statements_are_timed_on_the_driver_fast_path_too(
    fresh: Database, now: datetime
) -> None:
    guild_id = await new_guild(fresh, now)
    statements = Statements()
    fresh.observe(statements)
    async with fresh.autocommit() as uow:  # no connection open: the raw-driver path
        case = await uow.cases.create(guild_id, ban(1, now, None))
    assert [path for path, _ in statements.seen] == ["driver"]
    async with fresh.autocommit() as uow:
        await uow.cases.require(guild_id, case.number)
    assert statements.seen[1:] == [("sqlalchemy", "select")]


async def test_pool_states_say_what_is_checked_out(fresh: Database) -> None:
    assert [p.checked_out for p in fresh.pool_states()] == [0, 0]
    async with fresh.engine.connect():
        states = {p.name: p for p in fresh.pool_states()}
        assert states["transactions"].checked_out == 1
        assert states["autocommit"].checked_out == 0
        assert states["transactions"].overflow == 1 - states["transactions"].size


async def test_timer_counts_split_what_is_due_from_what_waits(
    fresh: Database, now: datetime
) -> None:
    guild_id = await new_guild(fresh, now)
    async with fresh.transaction() as uow:
        for target, hours in ((1, -2), (2, -1), (3, 1), (4, None)):
            expires = now + timedelta(hours=hours) if hours is not None else None
            await uow.cases.create(guild_id, ban(target, now - timedelta(days=1), expires))
    owner = ShardScope(4, frozenset({shard_of(guild_id, 4)}))
    other = ShardScope(4, frozenset(set(range(4)) - {shard_of(guild_id, 4)}))
    async with fresh.autocommit() as uow:
        assert await uow.timers.counts(owner, now) == (1, 2)  # (pending, overdue)
        assert await uow.timers.counts(other, now) == (0, 0)


async def test_the_revision_is_read_without_blocking_the_loop(fresh: Database) -> None:
    head = await asyncio.to_thread(migrate.head_revision, str(fresh.engine.url))
    assert await migrate.revisions_on(fresh.engine) == (head,)
