"""Alembic, wrapped for the `lockdown db` commands and the start-up check."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine, is_sqlite

#: The checkout's top directory, for the tests and maintainers (`alembic.ini` and
#: `migrations/` live there). Installed, nothing here uses it.
ROOT = Path(__file__).resolve().parent.parent


class SchemaBehind(Exception):
    """The database is not at the newest migration; the message says what to run."""


class SchemaAhead(SchemaBehind):
    """The database was migrated by a newer Lockdown than this one."""


def migrations_directory() -> Path:
    """The Alembic history, wherever Lockdown is installed.

    The checkout keeps it in `migrations/` beside `alembic.ini`, for bare
    `alembic`; the wheel ships that folder as the package `db.migrations`, and an
    editable install maps the one onto the other (pyproject.toml).
    """
    location = resources.files("db.migrations")
    if not isinstance(location, Path):  # a zipped install: Alembic reads a directory
        raise RuntimeError(f"Lockdown's migrations must be files on disk, not in {location}")
    return location


def alembic_config(url: str) -> Config:
    """Alembic's config for `url`, independent of the working directory and of
    `alembic.ini` (the checkout's, for maintainers; an installed Lockdown has none)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(url: str) -> str:
    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migration history has {len(heads)} heads; it must have one")
    return heads[0]


def first_revision(url: str) -> str:
    """The oldest migration (the schema every later one builds on)."""
    bases = ScriptDirectory.from_config(alembic_config(url)).get_bases()
    return bases[0]


def current_revisions(url: str) -> tuple[str, ...]:
    """The revisions the database is stamped with (empty for a new database)."""

    def read(connection: Connection) -> tuple[str, ...]:
        return tuple(MigrationContext.configure(connection).get_current_heads())

    async def run() -> tuple[str, ...]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def ensure_current(url: str, *, auto_migrate: bool) -> None:
    """Make sure the schema is at head before the bot touches the database.

    SQLite is the embedded default, so it upgrades itself unless told not to;
    a shared PostgreSQL is the maintainer's to migrate, deliberately.
    """
    head = head_revision(url)
    current = current_revisions(url)
    if current == (head,):
        return
    known = {r.revision for r in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()}
    newer = [revision for revision in current if revision not in known]
    if newer:
        raise SchemaAhead(
            f"the database was migrated by a newer Lockdown (revision {', '.join(newer)}; "
            f"this version knows up to {head}): run that newer version, or restore a backup "
            "taken before the upgrade"
        )
    if is_sqlite(url) and auto_migrate:
        upgrade(url)
        return
    raise SchemaBehind(
        f"the database schema is not at the newest migration ({head}): "
        "run `lockdown db upgrade` (or `alembic upgrade head`) first"
    )


#: Alembic's table of applied revisions (its default name).
VERSION_TABLE = "alembic_version"


async def revisions_on(engine: AsyncEngine) -> tuple[str, ...]:
    """The revisions a database is stamped with (empty for a new database), read
    through an open engine without blocking the event loop: the readiness check,
    so it reads the version table itself (Alembic's context logs on every use)."""

    def read(connection: Connection) -> tuple[str, ...]:
        if not inspect(connection).has_table(VERSION_TABLE):
            return ()
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
        return tuple(row[0] for row in rows)

    async with engine.connect() as connection:
        return await connection.run_sync(read)
