"""One Alembic history, proven on SQLite and PostgreSQL with pytest-alembic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pytest_alembic import Config as AlembicTestConfig
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from bot.domain.lifecycle import Action
from bot.domain.models import NewCase
from db import migrate
from db.engine import Database, create_engine
from db.migrate import ROOT
from tests.helpers import record

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
def alembic_config() -> AlembicTestConfig:
    return AlembicTestConfig(config_options={"file": str(ROOT / "alembic.ini")})


@pytest.fixture
def alembic_engine(empty_url: str) -> AsyncEngine:
    """A fresh empty database per test on each backend.

    pytest-alembic runs each step in its own event loop, so no connection may
    outlive a step: no pool.
    """
    return create_engine(empty_url, poolclass=NullPool)


def test_migrations_import_only_sqlalchemy_and_alembic() -> None:
    allowed = {"sqlalchemy", "alembic", "collections", "__future__", "typing"}
    for script in (ROOT / "migrations" / "versions").glob("*.py"):
        modules = {
            line.split()[1].split(".")[0]
            for line in script.read_text().splitlines()
            if line.startswith(("import ", "from "))
        }
        assert modules <= allowed, f"{script.name} imports {modules - allowed}"


async def test_stepping_down_and_up_keeps_the_case_log(empty_url: str) -> None:
    """SQLite rebuilds tables to drop columns; that must never cascade into cases."""
    await asyncio.to_thread(migrate.upgrade, empty_url)
    database = Database(empty_url)
    now = datetime.now(UTC)
    try:
        async with database.transaction() as uow:
            await uow.guilds.record_join(1, "kept", now=now)
        await record(database, 1, NewCase(Action.NOTE, 2, 3, now, reason="keep me"))
        await database.dispose()
        first = migrate.first_revision(empty_url)
        await asyncio.to_thread(migrate.downgrade, empty_url, first)
        await asyncio.to_thread(migrate.upgrade, empty_url)
        async with database.autocommit() as uow:
            case = await uow.cases.get(1, 1)
        assert case is not None
        assert case.reason == "keep me"
    finally:
        await database.dispose()


async def test_case_states_carry_the_active_flag_across_0004(empty_url: str) -> None:
    """Cases in force become `active`, the rest `closed`; and back again on downgrade."""
    await asyncio.to_thread(migrate.upgrade, empty_url, "0003")
    database = Database(empty_url)
    now = datetime.now(UTC).replace(tzinfo=None)
    true, false = ("true", "false") if not database.is_sqlite else ("1", "0")
    try:
        async with database.transaction() as uow:
            await uow.execute(
                text("INSERT INTO guilds (id, name, joined_at) VALUES (1, 'g', :now)"),
                {"now": now},
            )
            for number, kind, active in ((1, "ban", true), (2, "warn", false), (3, "kick", false)):
                await uow.execute(
                    text(
                        "INSERT INTO cases (guild_id, number, type, target_id, moderator_id,"
                        f" created_at, active) VALUES (1, {number}, '{kind}', 9, 8, :now, {active})"
                    ),
                    {"now": now},
                )
        await database.dispose()
        await asyncio.to_thread(migrate.upgrade, empty_url)
        async with database.autocommit() as uow:
            states = await uow.execute(text("SELECT number, state FROM cases ORDER BY number"))
            assert [tuple(row) for row in states] == [(1, "active"), (2, "closed"), (3, "closed")]
            ban = await uow.cases.active(1, 9, Action.BAN)
        assert ban is not None
        assert ban.number == 1
        await database.dispose()
        await asyncio.to_thread(migrate.downgrade, empty_url, "0003")
        async with database.autocommit() as uow:
            rows = await uow.execute(text("SELECT number, active FROM cases ORDER BY number"))
            assert [(n, bool(a)) for n, a in rows] == [(1, True), (2, False), (3, False)]
    finally:
        await database.dispose()
