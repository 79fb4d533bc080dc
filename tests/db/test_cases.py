"""The case log on both backends, through the hot path and both kinds of unit of work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.errors import AlreadyActive, CaseNotFound, DuplicateAuditEntry, GuildNotFound
from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import Case, NewCase
from db.engine import Database
from db.unit_of_work import UnitOfWork
from tests.conftest import new_snowflake
from tests.helpers import record as record_alone

TARGET = 111_111_111_111_111_111
MODERATOR = 222_222_222_222_222_222

UnitOfWorkFactory = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
Recorder = Callable[[int, NewCase], Awaitable[Case]]


@pytest.fixture(params=["hot path", "autocommit", "transaction"])
def record(request: pytest.FixtureRequest, database: Database) -> Recorder:
    """Every way `CaseRepository.create` runs: the driver hot path (a unit of work
    with no transaction and no connection open yet), an open autocommit
    connection, and a transaction."""
    unit: UnitOfWorkFactory = getattr(
        database, "autocommit" if request.param == "hot path" else request.param
    )

    async def through_unit_of_work(guild_id: int, new: NewCase) -> Case:
        async with unit() as uow:
            if request.param != "hot path":
                await uow.connection()
            return await uow.cases.create(guild_id, new)

    return through_unit_of_work


def warn(now: datetime, **changes: object) -> NewCase:
    fields: dict[str, object] = {
        "type": Action.WARN,
        "target_id": TARGET,
        "moderator_id": MODERATOR,
        "created_at": now,
        "reason": "spamming",
        "state": CaseState.ACTIVE,
    }
    fields.update(changes)
    return NewCase(**fields)  # type: ignore[arg-type]


async def test_numbers_are_sequential_per_guild(
    record: Recorder, database: Database, guild_id: int, now: datetime
) -> None:
    other = new_snowflake()
    async with database.transaction() as uow:
        await uow.guilds.record_join(other, "Other", now=now)

    numbers = [(await record(guild_id, warn(now))).number for _ in range(3)]
    other_numbers = [(await record(other, warn(now))).number for _ in range(2)]

    assert numbers == [1, 2, 3]
    assert other_numbers == [1, 2]


async def test_every_field_round_trips(
    record: Recorder, database: Database, guild_id: int, now: datetime
) -> None:
    expires = now + timedelta(days=3, microseconds=7)
    new = NewCase(
        type=Action.BAN,
        target_id=2**63 - 1,  # the largest 64-bit id survives
        moderator_id=MODERATOR,
        created_at=now,
        reason="x" * 1000,
        expires_at=expires,
        state=CaseState.ACTIVE,
        dm_delivered=False,
        audit_log_entry_id=987_654_321_987_654_321,
        related_number=None,
    )
    created = await record(guild_id, new)
    async with database.autocommit() as uow:
        loaded = await uow.cases.get(guild_id, created.number)

    assert loaded == created
    assert loaded.target_id == 2**63 - 1
    assert loaded.reason == "x" * 1000
    assert loaded.created_at == now
    assert loaded.created_at.tzinfo == UTC
    assert loaded.expires_at == expires
    assert loaded.expires_at.utcoffset() == timedelta(0)
    assert (loaded.type, loaded.active, loaded.dm_delivered) == (Action.BAN, True, False)
    assert loaded.audit_log_entry_id == 987_654_321_987_654_321


async def test_times_in_other_zones_are_stored_as_utc(
    database: Database, guild_id: int, now: datetime
) -> None:
    berlin = now.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    created = await record_alone(database, guild_id, warn(berlin))
    assert created.created_at == now
    assert created.created_at.tzinfo == UTC


async def test_naive_times_are_refused(database: Database, guild_id: int) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        await record_alone(database, guild_id, warn(datetime(2026, 1, 1)))


async def test_unknown_guild(record: Recorder, now: datetime) -> None:
    with pytest.raises(GuildNotFound):
        await record(new_snowflake(), warn(now))


async def test_one_active_ban_and_one_active_mute_per_target(
    record: Recorder, database: Database, guild_id: int, now: datetime
) -> None:
    ban = await record(guild_id, warn(now, type=Action.BAN))
    await record(guild_id, warn(now, type=Action.MUTE))  # a mute beside a ban is fine
    with pytest.raises(AlreadyActive) as raised:
        await record(guild_id, warn(now, type=Action.BAN))
    assert raised.value.kind == "ban"

    async with database.autocommit() as uow:
        assert await uow.cases.close(guild_id, ban.number) is not None
    again = await record(guild_id, warn(now, type=Action.BAN))
    async with database.autocommit() as uow:
        assert (await uow.cases.active(guild_id, TARGET, Action.BAN)) == again
    # The refused insert did not use up a number.
    assert again.number == ban.number + 2


async def test_an_audit_log_entry_becomes_one_case(
    record: Recorder, database: Database, guild_id: int, now: datetime
) -> None:
    first = await record(guild_id, warn(now, type=Action.KICK, audit_log_entry_id=42))
    with pytest.raises(DuplicateAuditEntry):
        await record(guild_id, warn(now, type=Action.KICK, audit_log_entry_id=42))
    async with database.autocommit() as uow:
        assert await uow.cases.find_by_audit_entry(guild_id, 42) == first


async def test_a_failed_transaction_records_nothing(
    database: Database, guild_id: int, now: datetime
) -> None:
    async def fail_after_recording() -> None:
        async with database.transaction() as uow:
            await uow.cases.create(guild_id, warn(now))
            raise RuntimeError("Discord said no")

    with pytest.raises(RuntimeError):
        await fail_after_recording()
    created = await record_alone(database, guild_id, warn(now))
    assert created.number == 1


async def test_history_is_newest_first_and_pages(
    database: Database, guild_id: int, now: datetime
) -> None:
    for minute in range(25):
        await record_alone(database, guild_id, warn(now + timedelta(minutes=minute)))
    await record_alone(database, guild_id, warn(now, target_id=MODERATOR))

    async with database.autocommit() as uow:
        first_page = await uow.cases.history(guild_id, TARGET, limit=20)
        second_page = await uow.cases.history(guild_id, TARGET, before=first_page[-1].number)
        total = await uow.cases.count_for_target(guild_id, TARGET)

    assert [c.number for c in first_page] == list(range(25, 5, -1))
    assert [c.number for c in second_page] == [5, 4, 3, 2, 1]
    assert total == 25


async def test_active_warnings_skip_expired_revoked_and_old(
    database: Database, guild_id: int, now: datetime
) -> None:
    old = await record_alone(database, guild_id, warn(now - timedelta(days=10)))
    expired = await record_alone(
        database, guild_id, warn(now, expires_at=now - timedelta(seconds=1))
    )
    pardoned = await record_alone(database, guild_id, warn(now))
    counting = await record_alone(database, guild_id, warn(now, expires_at=now + timedelta(days=1)))
    async with database.autocommit() as uow:
        await uow.cases.close(guild_id, pardoned.number, revoked_by=MODERATOR, revoked_at=now)
        every = await uow.cases.active_warnings(guild_id, TARGET, now=now)
        recent = await uow.cases.active_warnings(
            guild_id, TARGET, now=now, since=now - timedelta(days=1)
        )

    assert [c.number for c in every] == [counting.number, old.number]
    assert [c.number for c in recent] == [counting.number]
    assert expired.number not in [c.number for c in every]


async def test_deactivate_happens_once_and_records_who(
    database: Database, guild_id: int, now: datetime
) -> None:
    ban = await record_alone(database, guild_id, warn(now, type=Action.BAN))

    async def end() -> Case | None:
        async with database.autocommit() as uow:
            return await uow.cases.close(
                guild_id, ban.number, revoked_by=MODERATOR, revoked_at=now, revoke_reason="appeal"
            )

    results = await asyncio.gather(*(end() for _ in range(5)))
    ended = [r for r in results if r is not None]
    assert len(ended) == 1
    assert (ended[0].active, ended[0].revoked_by, ended[0].revoke_reason) == (
        False,
        MODERATOR,
        "appeal",
    )


async def test_edits_and_missing_cases(database: Database, guild_id: int, now: datetime) -> None:
    case = await record_alone(database, guild_id, warn(now))
    async with database.transaction() as uow:
        edited = await uow.cases.update_reason(guild_id, case.number, "new reason")
        delivered = await uow.cases.set_dm_delivered(guild_id, case.number, True)
        assert (edited.reason, delivered.dm_delivered) == ("new reason", True)
        assert await uow.cases.get(guild_id, 999) is None
        with pytest.raises(CaseNotFound):
            await uow.cases.require(guild_id, 999)
        with pytest.raises(CaseNotFound):
            await uow.cases.update_reason(guild_id, 999, "nope")
        assert (await uow.cases.require(guild_id, case.number)).reason == "new reason"


async def test_two_hundred_concurrent_cases_get_distinct_gapless_numbers(
    database: Database, guild_id: int, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    """Many connections at once, through the hot path and transactions alike;
    more than the pool keeps, so connections are closed on return too."""

    async def one(index: int) -> int:
        if index % 2:
            return (await record_alone(database, guild_id, warn(now))).number
        async with database.transaction() as uow:
            return (await uow.cases.create(guild_id, warn(now))).number

    numbers = await asyncio.gather(*(one(i) for i in range(200)))
    assert sorted(numbers) == list(range(1, 201))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_pending_case_settles_once_and_failed_ones_stay_out_of_history(
    database: Database, guild_id: int, now: datetime
) -> None:
    pending = await record_alone(database, guild_id, warn(now, state=CaseState.PENDING))
    doomed = await record_alone(
        database, guild_id, warn(now, type=Action.BAN, state=CaseState.PENDING)
    )
    async with database.autocommit() as uow:
        assert await uow.cases.active_warnings(guild_id, TARGET, now=now) == []  # not yet
        settled = await uow.cases.settle(guild_id, pending.number, CaseState.ACTIVE)
        again = await uow.cases.settle(guild_id, pending.number, CaseState.FAILED)
        failed = await uow.cases.settle(guild_id, doomed.number, CaseState.FAILED)
        counting = await uow.cases.active_warnings(guild_id, TARGET, now=now)
        shown = await uow.cases.history(guild_id, TARGET)
        everything = await uow.cases.history(guild_id, TARGET, include_failed=True)
        total = await uow.cases.count_for_target(guild_id, TARGET)
    assert settled is not None
    assert settled.state is CaseState.ACTIVE
    assert again is None  # only a pending case settles
    assert failed is not None
    assert failed.state is CaseState.FAILED
    assert [c.number for c in counting] == [pending.number]
    assert [c.number for c in shown] == [pending.number]
    assert [c.number for c in everything] == [doomed.number, pending.number]
    assert total == 1
    with pytest.raises(ValueError, match="cannot become"):
        async with database.autocommit() as uow:
            await uow.cases.settle(guild_id, pending.number, CaseState.PENDING)
