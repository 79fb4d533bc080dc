"""Throw-away databases for benchmarks, migrated by Alembic like production."""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from db import migrate

POSTGRES_ADMIN_URL = os.environ.get(
    "LOCKDOWN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgres")


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[str]:
    """The SQLAlchemy URL of a new database at head; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            await asyncio.to_thread(migrate.upgrade, url)
            yield url
        return
    name = f"lockdown_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        url = url.replace("postgresql://", "postgresql+asyncpg://")
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def driver_dsn(url: str) -> str:
    """The plain driver's form of a SQLAlchemy URL (a path for SQLite)."""
    if url.startswith("sqlite"):
        return url.split(":///", 1)[1]
    return url.replace("postgresql+asyncpg://", "postgresql://")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)
