"""Small helpers shared by the repositories."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, cast
from weakref import WeakKeyDictionary

import asyncpg
from sqlalchemy import Column, Dialect, Engine, Executable, Result, Table, event
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import greenlet_spawn

from bot.domain.errors import DatabaseUnavailable, GuildNotFound, LockdownError

#: Integrity errors as SQLAlchemy wraps them and as the drivers raise them.
INTEGRITY_ERRORS = (
    IntegrityError,
    sqlite3.IntegrityError,
    asyncpg.IntegrityConstraintViolationError,
)


class Connections(Protocol):
    """Where a repository gets its connection: a unit of work."""

    engine: AsyncEngine
    dialect: str
    transactional: bool

    @property
    def opened(self) -> bool: ...

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> Result[Any]: ...


class Repository:
    """A repository of one unit of work; it opens the connection only when it needs one."""

    def __init__(self, uow: Connections) -> None:
        self._uow = uow

    async def _execute(self, statement: Executable) -> Result[Any]:
        return await self._uow.execute(statement)

    async def _write(self, guild_id: int, statement: Executable) -> Result[Any]:
        """Execute a write of tenant data; a missing guild raises `GuildNotFound`."""
        try:
            return await self._uow.execute(statement)
        except INTEGRITY_ERRORS as error:
            if is_foreign_key_error(error):
                raise GuildNotFound(guild_id) from None
            raise

    def _upsert(self, table: Table) -> Any:
        """The dialect's `INSERT` that supports `ON CONFLICT` (same API on both backends)."""
        if self._uow.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


def violated(error: Exception, name: str, columns: Sequence[str] = ()) -> bool:
    """Whether an integrity error broke constraint `name`.

    PostgreSQL names the constraint; SQLite lists the columns instead.
    """
    message = str(getattr(error, "orig", error))
    if name in message:
        return True
    if columns and "UNIQUE constraint failed:" in message:
        failed = message.split("UNIQUE constraint failed:", 1)[1]
        return [c.strip().split(".")[-1] for c in failed.split(",")] == list(columns)
    return False


def is_foreign_key_error(error: Exception) -> bool:
    return "foreign key" in str(getattr(error, "orig", error)).lower()


#: What SQLite says when it cannot serve a statement (as opposed to a bug like
#: "no such column", which must stay a traceback).
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
)
_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    sqlalchemy_exc.TimeoutError,  # no pooled connection came free in time
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
)


def database_unavailable(error: BaseException) -> bool:
    """Whether an error means the database cannot be used right now (not a bug, not a
    refused value): the error itself, or what SQLAlchemy or the driver wrapped."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, sqlalchemy_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _CONNECTION_ERRORS):
            return True
        if isinstance(current, sqlite3.OperationalError):
            message = str(current).lower()
            if any(marker in message for marker in _SQLITE_UNAVAILABLE):
                return True
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False


@contextmanager
def outages_as_domain_errors() -> Iterator[None]:
    """Turn "the database cannot be used" into `DatabaseUnavailable`, which callers
    and the command tree answer with a clear message; anything else passes through."""
    try:
        yield
    except LockdownError:
        raise
    except Exception as error:
        if database_unavailable(error):
            raise DatabaseUnavailable(str(error).splitlines()[0] if str(error) else "") from error
        raise


#: Told of every statement: (path, statement kind, seconds); path is "sqlalchemy" or
#: "driver" (the fast path below, which SQLAlchemy's events never see).
StatementObserver = Callable[[str, str, float], None]
_observers: WeakKeyDictionary[Engine, StatementObserver] = WeakKeyDictionary()
_STATEMENT_KINDS = frozenset({"select", "insert", "update", "delete", "with"})
_STARTED = "lockdown_statement_started"


def statement_kind(sql: str) -> str:
    """The statement's first keyword, if a common one (a metrics label: a small set)."""
    head = sql.lstrip().split(None, 1)
    word = head[0].lower() if head else ""
    return word if word in _STATEMENT_KINDS else "other"


def observe_statements(engine: AsyncEngine, observer: StatementObserver) -> None:
    """Time every statement `engine` runs, through SQLAlchemy or the driver fast path."""
    sync = engine.sync_engine
    _observers[sync] = observer

    def started(connection: Any, *_: Any) -> None:
        connection.info.setdefault(_STARTED, []).append(time.perf_counter())

    def finished(connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        stack = connection.info.get(_STARTED)
        if stack:
            observer("sqlalchemy", statement_kind(sql), time.perf_counter() - stack.pop())

    def failed(context: Any) -> None:
        stack = context.connection.info.get(_STARTED) if context.connection else None
        if stack:
            stack.pop()

    event.listen(sync, "before_cursor_execute", started)
    event.listen(sync, "after_cursor_execute", finished)
    event.listen(sync, "handle_error", failed)


Processor = Callable[[Any], Any] | None

#: Errors after which a driver connection cannot be trusted again.
DRIVER_CONNECTION_ERRORS = (OSError, sqlite3.OperationalError, asyncpg.InterfaceError)


class DriverStatement:
    """A SQLAlchemy statement run straight through the driver.

    For the one write on the hot path. SQLAlchemy's aiosqlite adapter spends
    four thread hops per statement (cursor, execute, fetch, close) where the
    driver needs one, and its connection and execution layers together cost
    more than an asyncpg round trip; a pooled driver connection costs a
    quarter of an `AsyncConnection`. The SQL and the type conversions still
    come from SQLAlchemy: the statement is compiled once per dialect, and
    values pass through the columns' own bind and result processors, so both
    paths store and read identical values.
    """

    def __init__(
        self,
        statement: ClauseElement,
        dialect: Dialect,
        table: Table,
        returning: Sequence[Column[Any]],
    ) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        self.dialect_name = dialect.name
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._bind: list[Processor] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self._names
        ]
        self._result: list[tuple[str, Processor]] = [
            (column.name, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for column in returning
        ]

    async def fetch_one(self, engine: AsyncEngine, params: dict[str, Any]) -> dict[str, Any] | None:
        """Execute on a pooled driver connection of `engine` (an autocommit engine).

        The first row, converted and keyed by column name, if any.
        """
        values = []
        for name, process in zip(self._names, self._bind, strict=True):
            value = params[name]
            values.append(value if process is None or value is None else process(value))
        with outages_as_domain_errors():
            return await self._fetch_one(engine, values)

    async def _fetch_one(self, engine: AsyncEngine, values: list[Any]) -> dict[str, Any] | None:
        pooled = await engine.raw_connection()
        observer = _observers.get(engine.sync_engine)
        started = time.perf_counter()
        try:
            driver: Any = pooled.driver_connection
            if self.dialect_name == "postgresql":
                row = await driver.fetchrow(self.sql, *values)
            else:
                rows = await driver.execute_fetchall(self.sql, values)
                row = rows[0] if rows else None
            if observer is not None:
                observer("driver", statement_kind(self.sql), time.perf_counter() - started)
        except DRIVER_CONNECTION_ERRORS:
            # A broken connection must not go back to the pool. Like a return to
            # a full pool, that closes the driver connection, which is I/O only
            # SQLAlchemy's greenlet bridge can run.
            await greenlet_spawn(pooled.invalidate)
            raise
        finally:
            await greenlet_spawn(pooled.close)
        if row is None:
            return None
        return {
            name: value if process is None or value is None else process(value)
            for value, (name, process) in zip(row, self._result, strict=True)
        }
