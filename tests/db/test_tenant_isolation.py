"""No repository call made for one guild can read or write another guild's rows.

Two guilds hold look-alike data (same targets, same case numbers, same keys).
Hypothesis drives random sequences of every repository method against guild A;
afterwards guild B's rows are byte-for-byte what they were, and nothing a call
returned belongs to B.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, get_type_hints

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.domain.errors import LockdownError
from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import NewCase
from db.engine import Database
from db.models import Base
from db.unit_of_work import UnitOfWork
from tests.conftest import new_snowflake

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TARGETS = st.sampled_from([1001, 1002, 1003])
NUMBERS = st.integers(min_value=1, max_value=6)
KEYS = st.sampled_from(["modlog_channel", "appeal_text", "warn_expiry"])
FLAGS = st.sampled_from(["dm_notify", "escalation"])
CASE_TYPES = st.sampled_from(list(Action))

Operation = Callable[[UnitOfWork, int, dict[str, Any]], Awaitable[object]]

#: Every tenant repository method, with the arguments Hypothesis may give it.
OPERATIONS: dict[str, tuple[Operation, st.SearchStrategy[dict[str, Any]]]] = {
    "cases.create": (
        lambda u, g, a: u.cases.create(
            g,
            NewCase(
                type=a["type"],
                target_id=a["target"],
                moderator_id=9,
                created_at=NOW,
                state=CaseState.ACTIVE if a["active"] else CaseState.CLOSED,
                audit_log_entry_id=a["entry"],
            ),
        ),
        st.fixed_dictionaries(
            {
                "type": CASE_TYPES,
                "target": TARGETS,
                "active": st.booleans(),
                "entry": st.none() | st.integers(1, 3),
            }
        ),
    ),
    "cases.all": (lambda u, g, a: u.cases.all(g), st.just({})),
    "cases.get": (lambda u, g, a: u.cases.get(g, a["n"]), st.fixed_dictionaries({"n": NUMBERS})),
    "cases.require": (
        lambda u, g, a: u.cases.require(g, a["n"]),
        st.fixed_dictionaries({"n": NUMBERS}),
    ),
    "cases.history": (
        lambda u, g, a: u.cases.history(g, a["target"], limit=a["limit"], before=a["before"]),
        st.fixed_dictionaries(
            {"target": TARGETS, "limit": st.integers(1, 5), "before": st.none() | NUMBERS}
        ),
    ),
    "cases.count_for_target": (
        lambda u, g, a: u.cases.count_for_target(g, a["target"]),
        st.fixed_dictionaries({"target": TARGETS}),
    ),
    "cases.active": (
        lambda u, g, a: u.cases.active(g, a["target"], a["type"]),
        st.fixed_dictionaries({"target": TARGETS, "type": CASE_TYPES}),
    ),
    "cases.pending_for": (
        lambda u, g, a: u.cases.pending_for(g, a["target"]),
        st.fixed_dictionaries({"target": TARGETS}),
    ),
    "cases.in_force": (
        lambda u, g, a: u.cases.in_force(g, a["type"], after=a["after"]),
        st.fixed_dictionaries({"type": CASE_TYPES, "after": st.integers(0, 5)}),
    ),
    "cases.active_warnings": (
        lambda u, g, a: u.cases.active_warnings(g, a["target"], now=NOW, since=a["since"]),
        st.fixed_dictionaries({"target": TARGETS, "since": st.none() | st.just(NOW)}),
    ),
    "cases.find_by_audit_entry": (
        lambda u, g, a: u.cases.find_by_audit_entry(g, a["entry"]),
        st.fixed_dictionaries({"entry": st.integers(1, 3)}),
    ),
    "cases.update_reason": (
        lambda u, g, a: u.cases.update_reason(g, a["n"], "edited"),
        st.fixed_dictionaries({"n": NUMBERS}),
    ),
    "cases.set_dm_delivered": (
        lambda u, g, a: u.cases.set_dm_delivered(g, a["n"], a["delivered"]),
        st.fixed_dictionaries({"n": NUMBERS, "delivered": st.booleans()}),
    ),
    "cases.find_unlinked": (
        lambda u, g, a: u.cases.find_unlinked(g, a["target"], [a["type"]], since=NOW),
        st.fixed_dictionaries({"target": TARGETS, "type": CASE_TYPES}),
    ),
    "cases.link_audit_entry": (
        lambda u, g, a: u.cases.link_audit_entry(g, a["n"], a["entry"]),
        st.fixed_dictionaries({"n": NUMBERS, "entry": st.integers(1, 5)}),
    ),
    "cases.set_renew_at": (
        lambda u, g, a: u.cases.set_renew_at(g, a["n"], NOW),
        st.fixed_dictionaries({"n": NUMBERS}),
    ),
    "cases.close_active": (
        lambda u, g, a: u.cases.close_active(
            g, a["target"], a["type"], revoked_by=9, revoked_at=NOW, revoke_reason=None
        ),
        st.fixed_dictionaries({"target": TARGETS, "type": CASE_TYPES}),
    ),
    "cases.close": (
        lambda u, g, a: u.cases.close(g, a["n"], revoked_by=9, revoked_at=NOW),
        st.fixed_dictionaries({"n": NUMBERS}),
    ),
    "cases.pending": (
        lambda u, g, a: u.cases.pending(g, before=NOW + timedelta(days=1)),
        st.just({}),
    ),
    "locks.take": (
        lambda u, g, a: u.locks.take(
            g, a["target"], owner="test", now=NOW, until=NOW + timedelta(minutes=1)
        ),
        st.fixed_dictionaries({"target": TARGETS}),
    ),
    "locks.release": (
        lambda u, g, a: u.locks.release(g, a["target"], owner="test"),
        st.fixed_dictionaries({"target": TARGETS}),
    ),
    "cases.settle": (
        lambda u, g, a: u.cases.settle(g, a["n"], a["state"]),
        st.fixed_dictionaries(
            {
                "n": NUMBERS,
                "state": st.sampled_from([CaseState.ACTIVE, CaseState.CLOSED, CaseState.FAILED]),
            }
        ),
    ),
    "guilds.record_join": (
        lambda u, g, a: u.guilds.record_join(g, "renamed", now=NOW),
        st.just({}),
    ),
    "guilds.get": (lambda u, g, a: u.guilds.get(g), st.just({})),
    "guilds.record_leave": (lambda u, g, a: u.guilds.record_leave(g, now=NOW), st.just({})),
    "guilds.audit_cursor": (lambda u, g, a: u.guilds.audit_cursor(g), st.just({})),
    "guilds.set_audit_cursor": (
        lambda u, g, a: u.guilds.set_audit_cursor(g, a["entry"]),
        st.fixed_dictionaries({"entry": st.integers(1, 5)}),
    ),
    "guilds.purge": (lambda u, g, a: u.guilds.purge(g), st.just({})),
    "members.record_join": (
        lambda u, g, a: u.members.record_join(g, a["target"], now=NOW),
        st.fixed_dictionaries({"target": TARGETS}),
    ),
    "members.record_leave": (
        lambda u, g, a: u.members.record_leave(g, a["target"], now=NOW),
        st.fixed_dictionaries({"target": TARGETS}),
    ),
    "members.get": (
        lambda u, g, a: u.members.get(g, a["target"]),
        st.fixed_dictionaries({"target": TARGETS}),
    ),
    "settings.all": (lambda u, g, a: u.settings.all(g), st.just({})),
    "settings.get": (
        lambda u, g, a: u.settings.get(g, a["key"]),
        st.fixed_dictionaries({"key": KEYS}),
    ),
    "settings.set": (
        lambda u, g, a: u.settings.set(g, a["key"], a["value"], actor_id=9, now=NOW),
        st.fixed_dictionaries({"key": KEYS, "value": st.integers() | st.text(max_size=5)}),
    ),
    "settings.delete": (
        lambda u, g, a: u.settings.delete(g, a["key"]),
        st.fixed_dictionaries({"key": KEYS}),
    ),
    "policies.list": (lambda u, g, a: u.policies.list(g), st.just({})),
    "policies.add": (
        lambda u, g, a: u.policies.add(
            g,
            threshold=a["threshold"],
            action=Action.MUTE,
            duration_seconds=600,
            window_seconds=None,
            created_by=9,
            now=NOW,
        ),
        st.fixed_dictionaries({"threshold": st.integers(1, 4)}),
    ),
    "policies.remove": (
        lambda u, g, a: u.policies.remove(g, a["id"]),
        st.fixed_dictionaries({"id": st.integers(1, 50)}),
    ),
    "features.all": (lambda u, g, a: u.features.all(g), st.just({})),
    "features.set": (
        lambda u, g, a: u.features.set(g, a["flag"], a["on"], actor_id=9, now=NOW),
        st.fixed_dictionaries({"flag": FLAGS, "on": st.booleans()}),
    ),
    "changes.add": (
        lambda u, g, a: u.changes.add(
            g,
            actor_id=9,
            action="config.set",
            entity="setting",
            entity_id="modlog_channel",
            before=None,
            after={"value": 1},
            now=NOW,
        ),
        st.just({}),
    ),
    "changes.all": (lambda u, g, a: u.changes.all(g), st.just({})),
    "changes.recent": (
        lambda u, g, a: u.changes.recent(g, limit=a["limit"]),
        st.fixed_dictionaries({"limit": st.integers(1, 20)}),
    ),
}

#: Users are Discord-global, not tenant data, so they have no guild to isolate; the
#: timer queue and departed guilds are the two reads that span guilds by design,
#: bounded by the process's shards and the retention cut-off.
GLOBAL_REPOSITORIES = {"users", "state", "timers", "departed"}
#: Tables that hold no guild's data.
GLOBAL_TABLES = {"guilds", "users", "bot_state"}


def test_every_tenant_repository_method_is_exercised() -> None:
    """A new repository method fails this test until it joins OPERATIONS."""
    methods = set()
    for name, member in vars(UnitOfWork).items():
        if not isinstance(member, cached_property) or name in GLOBAL_REPOSITORIES:
            continue
        repository = get_type_hints(member.func)["return"]
        for method_name, method in inspect.getmembers(repository, inspect.iscoroutinefunction):
            if method_name.startswith("_"):
                continue
            methods.add(f"{name}.{method_name}")
            parameters = list(inspect.signature(method).parameters)
            assert parameters[1] == "guild_id", f"{name}.{method_name} must take guild_id first"
    assert methods == set(OPERATIONS)


def test_every_table_with_tenant_data_has_a_guild_id() -> None:
    for table in Base.metadata.sorted_tables:
        if table.name in GLOBAL_TABLES:
            continue
        assert "guild_id" in table.c, f"{table.name} has no guild_id"
        assert table.c.guild_id.foreign_keys, f"{table.name}.guild_id does not reference guilds"


async def snapshot(database: Database, guild_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row guild `guild_id` owns, table by table, in a stable order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with database.autocommit() as uow:
        for table in Base.metadata.sorted_tables:
            if table.name in GLOBAL_TABLES - {"guilds"}:
                continue
            owner = table.c.id if table.name == "guilds" else table.c.guild_id
            query = select(table).where(owner == guild_id).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in await uow.execute(query)]
    return rows


async def seed(database: Database, guild_id: int) -> None:
    """Look-alike data, so a missing guild filter would hit matching rows."""
    async with database.transaction() as uow:
        await uow.guilds.record_join(guild_id, "seeded", now=NOW)
        for index, target in enumerate([1001, 1002, 1003, 1001]):
            await uow.cases.create(
                guild_id,
                NewCase(
                    type=Action.WARN,
                    target_id=target,
                    moderator_id=8,
                    created_at=NOW - timedelta(hours=index),
                    state=CaseState.ACTIVE,
                    audit_log_entry_id=index + 1,
                ),
            )
            await uow.members.record_join(guild_id, target, now=NOW)
        # Expired leases held by the same owner name, so a take or release that
        # forgot the guild would touch them.
        await uow.locks.take(guild_id, 1001, owner="test", now=NOW, until=NOW)
        await uow.locks.take(guild_id, 1002, owner="test", now=NOW, until=NOW)
        await uow.settings.set(guild_id, "modlog_channel", 5, actor_id=8, now=NOW)
        await uow.features.set(guild_id, "dm_notify", True, actor_id=8, now=NOW)
        await uow.policies.add(
            guild_id,
            threshold=2,
            action=Action.KICK,
            duration_seconds=None,
            window_seconds=None,
            created_by=8,
            now=NOW,
        )
        await uow.changes.add(
            guild_id,
            actor_id=8,
            action="seed",
            entity="guild",
            entity_id=str(guild_id),
            before=None,
            after=None,
            now=NOW,
        )


def owners(value: object) -> set[int]:
    """The guilds the records in a return value belong to."""
    if isinstance(value, list | tuple):
        return set().union(*(owners(item) for item in value)) if value else set()
    if isinstance(value, dict):
        return owners(list(value.values()))
    if hasattr(value, "guild_id"):
        return {value.guild_id}
    if type(value).__name__ == "Guild":
        return {value.id}  # type: ignore[attr-defined]
    return set()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    calls=st.lists(
        st.sampled_from(sorted(OPERATIONS)).flatmap(
            lambda name: OPERATIONS[name][1].map(lambda args: (name, args))
        ),
        min_size=1,
        max_size=12,
    )
)
async def test_calls_for_one_guild_never_touch_another(
    database: Database, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    guild_a, guild_b = new_snowflake(), new_snowflake()
    await seed(database, guild_a)
    await seed(database, guild_b)
    before = await snapshot(database, guild_b)

    for name, args in calls:
        operation = OPERATIONS[name][0]
        try:
            async with database.autocommit() as uow:
                result = await operation(uow, guild_a, args)
        except LockdownError:
            continue  # refusals (a second active ban, a missing case) are fine
        assert owners(result) <= {guild_a}, f"{name} returned another guild's rows"

    assert await snapshot(database, guild_b) == before
