"""Shared fixtures: real SQLite files and a real PostgreSQL database per run.

Outside CI a missing service skips its tests with a one-line reason; with
CI=true it fails them, so a broken CI machine can never look green.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.infra.redis_client import redis_for_commands
from db import migrate
from db.engine import Database
from tests.parallel import (
    TURNS_DIRECTORY,
    Turns,
    shared_fixture_group,
    slow_first,
    worker_turns,
)

POSTGRES_ADMIN_URL = os.environ.get(
    "LOCKDOWN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
if TYPE_CHECKING:
    from tests.redis_server import PrivateRedis

REDIS_URL = os.environ.get("LOCKDOWN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: This pytest-xdist worker ("gw0", "gw1", ...), or "main" without xdist.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


_turns: Turns | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist the controlling process makes the workers' `Turns`."""
    if not hasattr(config, "workerinput") and config.getoption("numprocesses", None):
        os.environ[TURNS_DIRECTORY] = tempfile.mkdtemp(prefix="lockdown-test-turns-")
    global _turns  # noqa: PLW0603
    _turns = worker_turns()


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and TURNS_DIRECTORY in os.environ:
        shutil.rmtree(os.environ.pop(TURNS_DIRECTORY), ignore_errors=True)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Group it before pytest-xdist reads the groups (pytest_collection_modifyitems)."""
    if item.get_closest_marker("xdist_group") is None:
        group = shared_fixture_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(trylast=True)  # after pytest's own ordering by fixture scope
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow_first(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    if _turns is None:
        return (yield)
    with _turns.hold(alone=item.get_closest_marker("alone") is not None):
        return (yield)


def service_missing(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required services must be running)", pytrace=False)
    pytest.skip(reason)


class PostgresServer:
    """Creates throw-away databases on the test server and drops them at the end.

    One per pytest process: under pytest-xdist each worker names its databases
    after itself and drops only its own.
    """

    #: DROP DATABASE waits for a checkpoint; drops running together share one.
    DROPS_AT_ONCE = 8

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    async def _admin(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(self.admin_url, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            service_missing(f"PostgreSQL is not reachable at {self.admin_url}: {error}")
            raise

    async def create_database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"lockdown_test_{WORKER}_{secrets.token_hex(6)}"
        connection = await self._admin()
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        self.created.append(name)
        base = self.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{base}/{name}"

    async def drop_all(self) -> None:
        at_once = asyncio.Semaphore(self.DROPS_AT_ONCE)

        async def drop(name: str) -> None:
            async with at_once:
                connection = await asyncpg.connect(self.admin_url, timeout=5)
                try:
                    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                finally:
                    await connection.close()

        await asyncio.gather(*(drop(name) for name in self.created))
        self.created.clear()


@pytest.fixture(scope="session")
async def postgres() -> AsyncIterator[PostgresServer]:
    server = PostgresServer(POSTGRES_ADMIN_URL)
    yield server
    await server.drop_all()


@pytest.fixture
async def empty_postgres_url(postgres: PostgresServer) -> str:
    return await postgres.create_database()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def fresh_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def empty_url(fresh_backend: str, postgres: PostgresServer, tmp_path: Path) -> str:
    """A URL of a new empty database on each backend (function-scoped)."""
    if fresh_backend == "postgres":
        return await postgres.create_database()
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
async def database_url(
    backend: str, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A database migrated to head once per backend per run, by Alembic itself."""
    if backend == "postgres":
        url = await postgres.create_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'lockdown.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


def new_snowflake() -> int:
    """A random id shaped like a Discord snowflake; tests own their guilds by id."""
    return (secrets.randbelow(2**40) << 22) | secrets.randbelow(2**22)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 22, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
async def guild_id(database: Database, now: datetime) -> int:
    """A fresh guild of this test's own: tests never see each other's rows."""
    gid = new_snowflake()
    async with database.transaction() as uow:
        await uow.guilds.record_join(gid, "Test Guild", now=now)
    return gid


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    """A client of the test Redis server; tests namespace their keys themselves."""
    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        await client.aclose()
        service_missing(f"Redis is not reachable at {REDIS_URL}: {error}")
    yield client
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of the test's own, on a free port."""
    from tests.redis_server import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def private_client(private_redis: PrivateRedis) -> AsyncIterator[Redis]:
    from tests.redis_server import ready

    client = redis_for_commands(private_redis.url)
    await ready(client)
    yield client
    await client.aclose()
