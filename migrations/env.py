"""Alembic environment: one history for SQLite and PostgreSQL, run on the async engine.

The URL is `sqlalchemy.url` when a caller set it on the Config (tests, the
`lockdown db` commands), else DATABASE_URL (or `.env`): read alone, so that an
unrelated bad setting cannot stop a migration.
"""

from __future__ import annotations

import asyncio

from alembic import context
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine
from db.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from bot.settings import SettingsError, load_database_url

    try:
        return load_database_url()
    except SettingsError as error:
        raise CommandError(str(error)) from None  # `alembic` prints it as one line


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our column types as plain SQLAlchemy ones: migrations import only
    `sqlalchemy` and `alembic`, never the application."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**options: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        compare_server_default=True,
        **options,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(engine: AsyncEngine, *, dispose: bool) -> None:
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # Batch migrations rebuild a table by copying it and dropping the old
                # one; with foreign keys on, dropping `guilds` would cascade-delete
                # every case. The pragma only takes effect outside a transaction.
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.run_sync(_run_on)
            await connection.commit()
    finally:
        if dispose:
            await engine.dispose()


def run_migrations_online() -> None:
    """Callers may hand over a connection or an engine (pytest-alembic does)."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run_on(given)
    elif isinstance(given, AsyncEngine):
        asyncio.run(_run_async(given, dispose=False))
    else:
        asyncio.run(_run_async(create_engine(_url()), dispose=True))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
