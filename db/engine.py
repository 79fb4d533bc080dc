"""Engine and units of work, built from a URL at start-up (never at import)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from bot.domain.metrics import Metrics
from db.repositories._sql import observe_statements
from db.unit_of_work import UnitOfWork

SQLITE_BUSY_TIMEOUT_MS = 15_000
CONNECT_TIMEOUT_SECONDS = 5


def _sqlite_configurer(busy_timeout_ms: int) -> Callable[[DBAPIConnection, Any], None]:
    def configure(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        """WAL lets readers run beside the writer; the busy timeout queues writers
        from other connections and processes instead of failing them."""
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    return configure


def _check_sqlite_directory(url: str) -> None:
    """Say plainly that a SQLite file's directory is missing, before aiosqlite's
    worker thread fails to open it (and, racing the closing event loop, prints
    a thread traceback on top of the error)."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        directory = Path(database).expanduser().resolve().parent
        if not directory.is_dir():
            raise FileNotFoundError(
                f"unable to open database file: the directory {directory} does not exist"
            )


def is_sqlite(url: str) -> bool:
    """The one test of which backend a URL names (the other is PostgreSQL)."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, made absolute; None for other URLs and in-memory ones."""
    database = make_url(url).database
    if not is_sqlite(url) or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def describe(url: str) -> str:
    """Which database a URL names, for people: backend and host or file, never the password."""
    parsed = make_url(url)
    if is_sqlite(url):
        path = sqlite_file(url)
        return f"SQLite file {path}" if path else f"SQLite {parsed.database or ':memory:'}"
    host = parsed.host or "the local socket"
    port = f":{parsed.port}" if parsed.port else ""
    user = f" as {parsed.username}" if parsed.username else ""
    return f"PostgreSQL database {parsed.database} on {host}{port}{user}"


class DatabaseUnavailable(Exception):
    """The database in DATABASE_URL cannot be used; the message says which one and why."""


@contextmanager
def blame_database(url: str) -> Iterator[None]:
    """Report a failure inside as the database's, naming it: use it around code whose
    only I/O is the database, so a file or network error elsewhere keeps its own cause."""
    try:
        yield
    except (OSError, DBAPIError) as error:
        lines = str(getattr(error, "orig", None) or error).strip().splitlines()
        if isinstance(error, TimeoutError):
            reason = "it did not answer in time"
        else:
            reason = lines[0] if lines else type(error).__name__
        raise DatabaseUnavailable(
            f"cannot use the database in DATABASE_URL ({describe(url)}): {reason}"
        ) from error


def create_engine(
    url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **options: Any
) -> AsyncEngine:
    """An async engine for a `sqlite+aiosqlite` or `postgresql+asyncpg` URL.

    `busy_timeout_ms` is how long a SQLite write waits for another writer
    before it gives up ("database is locked").
    """
    if is_sqlite(url):
        _check_sqlite_directory(url)
        options.setdefault("connect_args", {"timeout": busy_timeout_ms / 1000})
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_configurer(busy_timeout_ms))
        return engine
    if "poolclass" not in options:
        options.setdefault("pool_size", 10)
        options.setdefault("max_overflow", 10)
    # A database that does not answer must not hold a command for asyncpg's default minute.
    options.setdefault("connect_args", {"timeout": CONNECT_TIMEOUT_SECONDS})
    return create_async_engine(url, **options)


@dataclass(frozen=True, slots=True)
class PoolState:
    name: str
    size: int
    checked_out: int
    overflow: int  # beyond `size`; negative while fewer than `size` are open


class Database:
    """The process's connection pools and its two kinds of unit of work."""

    def __init__(self, url: str, **options: Any) -> None:
        self.engine = create_engine(url, **options)
        # Connections born in autocommit mode, in a pool of their own: switching
        # a pooled connection's isolation level on every checkout costs more
        # than the statement, and an autocommit connection needs no reset.
        self.autocommit_engine = create_engine(
            url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **options
        )
        self.dialect = self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def transaction(self) -> UnitOfWork:
        """Repositories sharing one transaction: committed on success, else rolled back.

        `async with database.transaction() as uow: ...`
        """
        return UnitOfWork(self.engine, transactional=True)

    def autocommit(self) -> UnitOfWork:
        """Repositories whose every statement commits by itself.

        For units of work whose statements stand alone: no BEGIN and COMMIT
        round trips. `async with database.autocommit() as uow: ...`
        """
        return UnitOfWork(self.autocommit_engine, transactional=False)

    async def ping(self) -> None:
        """Open a connection now, so a wrong DATABASE_URL fails at start-up, not mid-command."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.autocommit_engine.dispose()

    def observe(self, metrics: Metrics) -> None:
        """Report every statement's latency to `metrics`, the fast path's included."""
        for engine in (self.engine, self.autocommit_engine):
            observe_statements(engine, metrics.statement_finished)

    def pool_states(self) -> list[PoolState]:
        """How full each pool is now (pools that keep no connections are left out)."""
        states = []
        for name, engine in (("transactions", self.engine), ("autocommit", self.autocommit_engine)):
            pool = engine.pool
            if isinstance(pool, QueuePool):
                states.append(PoolState(name, pool.size(), pool.checkedout(), pool.overflow()))
        return states
