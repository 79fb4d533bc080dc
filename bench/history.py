"""A member's 20 newest cases in a guild holding 1,000,000 cases.

Target (issue: foundation): p99 under 5 ms on both backends, through the
repository; the same query on the bare driver is the floor. The guild's cases
are spread over 10,000 targets (100 each); every query asks for a random one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime

import aiosqlite
import asyncpg
from sqlalchemy import text

from bench.common import BACKENDS, driver_dsn, fresh_database, median, percentile
from bot.domain.models import Case
from db.engine import Database

GUILD = 800_000_000_000_000_010
TARGETS = 10_000


async def fill(database: Database, rows: int) -> None:
    params = {"guild": GUILD, "rows": rows, "targets": TARGETS}
    if database.dialect == "postgresql":
        insert = """
            INSERT INTO cases (guild_id, number, type, target_id, moderator_id, created_at, state)
            SELECT :guild, n, 'warn', 1000 + n % :targets, 7,
                   now() - make_interval(secs => :rows - n), false
            FROM generate_series(1, :rows) AS n"""
    else:
        insert = """
            WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :rows)
            INSERT INTO cases (guild_id, number, type, target_id, moderator_id, created_at, state)
            SELECT :guild, n, 'warn', 1000 + n % :targets, 7,
                   strftime('%Y-%m-%d %H:%M:%f000', 'now', '-' || (:rows - n) || ' seconds'), 0
            FROM seq"""
    async with database.transaction() as uow:
        await uow.guilds.record_join(GUILD, "bench", now=datetime.now(UTC))
        await uow.execute(text(insert), params)
    async with database.autocommit() as uow:
        await uow.execute(text("ANALYZE"))


async def run_backend(backend: str, rows: int, queries: int) -> dict[str, list[float]]:
    async with fresh_database(backend) as url:
        database = Database(url)
        started = time.perf_counter()
        await fill(database, rows)
        elapsed = time.perf_counter() - started
        print(f"history      {backend:8}  filled {rows:,} cases in {elapsed:.1f} s", flush=True)
        # The floor: the same query, hand-written for the bare driver.
        query = (
            f"SELECT {', '.join(Case.__slots__)} FROM cases"
            " WHERE guild_id = {} AND target_id = {} ORDER BY number DESC LIMIT 20"
        )
        if backend == "sqlite":
            raw = await aiosqlite.connect(driver_dsn(url))

            async def floor(target: int) -> int:
                rows_ = await raw.execute_fetchall(query.format("?", "?"), (GUILD, target))
                return len(list(rows_))
        else:
            raw = await asyncpg.connect(driver_dsn(url))

            async def floor(target: int) -> int:
                return len(await raw.fetch(query.format("$1", "$2"), GUILD, target))

        async def repository(target: int) -> int:
            async with database.autocommit() as uow:
                return len(await uow.cases.history(GUILD, target, limit=20))

        samples: dict[str, list[float]] = {"floor": [], "repository": []}
        rng = random.Random(7)
        try:
            for index in range(queries + 200):
                target = 1000 + rng.randrange(TARGETS)
                for name, call in (("floor", floor), ("repository", repository)):
                    start = time.perf_counter()
                    found = await call(target)
                    elapsed = time.perf_counter() - start
                    assert found == 20, f"{name} found {found} cases"
                    if index >= 200:  # warm-up
                        samples[name].append(elapsed)
        finally:
            await raw.close()
            await database.dispose()
        return samples


def report(backend: str, samples: dict[str, list[float]]) -> str:
    floor, repo = samples["floor"], samples["repository"]
    return (
        f"history      {backend:8}  floor p50 {median(floor) * 1e3:.3f} ms p99 "
        f"{percentile(floor, 0.99) * 1e3:.3f} ms   repository p50 {median(repo) * 1e3:.3f} ms "
        f"p99 {percentile(repo, 0.99) * 1e3:.3f} ms ({median(repo) / median(floor):.2f}x p50)"
    )


async def main(rows: int, queries: int, backends: list[str]) -> None:
    for backend in backends:
        print(report(backend, await run_backend(backend, rows, queries)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.queries, args.backend or list(BACKENDS)))
