"""Recording one case (number allocation + insert + commit) against the raw-driver floor.

Target (issue: foundation): the repository costs at most 3x the floor on both
backends. The floor is the cheapest durable insert of the same row with the
bare driver on one connection: aiosqlite `execute` + `commit`; asyncpg
`execute` in autocommit (one round trip). A plain ORM `add()` + `commit()` is
measured too, for reference.

Rounds alternate between the contenders so that machine noise hits all alike;
the figure is the median of per-round means.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiosqlite
import asyncpg
from sqlalchemy.ext.asyncio import async_sessionmaker

from bench.common import BACKENDS, driver_dsn, fresh_database, median
from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import NewCase
from db.engine import Database
from db.models import CaseRow

GUILD = 800_000_000_000_000_001
FLOOR_GUILD = 800_000_000_000_000_002
ORM_GUILD = 800_000_000_000_000_003

Step = Callable[[], Awaitable[None]]


async def measure(steps: dict[str, Step], *, rounds: int, per_round: int) -> dict[str, float]:
    """Median over rounds of the mean seconds per call, contenders interleaved."""
    for step in steps.values():  # warm caches, prepared statements, pools
        for _ in range(50):
            await step()
    means: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(per_round):
                await step()
            means[name].append((time.perf_counter() - start) / per_round)
    return {name: median(values) for name, values in means.items()}


async def run_backend(backend: str, rounds: int, per_round: int) -> dict[str, float]:
    async with fresh_database(backend) as url:
        database = Database(url)
        now = datetime.now(UTC)
        async with database.transaction() as uow:
            for guild in (GUILD, FLOOR_GUILD, ORM_GUILD):
                await uow.guilds.record_join(guild, "bench", now=now)
        new = NewCase(Action.WARN, target_id=42, moderator_id=7, created_at=now, reason="spam")

        async def repository() -> None:
            async with database.autocommit() as uow:
                await uow.cases.create(GUILD, new)

        sessions = async_sessionmaker(database.engine, expire_on_commit=False)
        orm_number = 0

        async def orm() -> None:
            nonlocal orm_number
            orm_number += 1
            async with sessions() as session:
                session.add(
                    CaseRow(
                        guild_id=ORM_GUILD,
                        number=orm_number,
                        type="warn",
                        target_id=42,
                        moderator_id=7,
                        created_at=now,
                        reason="spam",
                        state=CaseState.ACTIVE.value,
                    )
                )
                await session.commit()

        floor_number = 0
        columns = "guild_id, number, type, target_id, moderator_id, created_at, reason, state"
        if backend == "sqlite":
            raw = await aiosqlite.connect(driver_dsn(url))
            await raw.execute("PRAGMA journal_mode=WAL")
            await raw.execute("PRAGMA synchronous=NORMAL")
            stored_now = now.replace(tzinfo=None).isoformat(" ")

            async def floor() -> None:
                nonlocal floor_number
                floor_number += 1
                await raw.execute(
                    f"INSERT INTO cases ({columns})"
                    " VALUES (?, ?, 'warn', 42, 7, ?, 'spam', 'active')",
                    (FLOOR_GUILD, floor_number, stored_now),
                )
                await raw.commit()
        else:
            raw = await asyncpg.connect(driver_dsn(url))

            async def floor() -> None:
                nonlocal floor_number
                floor_number += 1
                await raw.execute(
                    f"INSERT INTO cases ({columns})"
                    " VALUES ($1, $2, 'warn', 42, 7, $3, 'spam', 'active')",
                    FLOOR_GUILD,
                    floor_number,
                    now,
                )

        try:
            return await measure(
                {"floor": floor, "repository": repository, "orm": orm},
                rounds=rounds,
                per_round=per_round,
            )
        finally:
            await raw.close()
            await database.dispose()


def report(backend: str, timings: dict[str, float]) -> str:
    floor, repository, orm = timings["floor"], timings["repository"], timings["orm"]
    return (
        f"record case  {backend:8}  floor {floor * 1e6:7.1f} us   "
        f"repository {repository * 1e6:7.1f} us ({repository / floor:.2f}x)   "
        f"orm add+commit {orm * 1e6:7.1f} us ({orm / floor:.2f}x)"
    )


async def main(rounds: int, per_round: int, backends: list[str]) -> None:
    for backend in backends:
        print(report(backend, await run_backend(backend, rounds, per_round)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.per_round, args.backend or list(BACKENDS)))
