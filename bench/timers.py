"""The timer scheduler's start-up with 100,000 pending expirations.

Target (issue: scheduler): 100,000 pending expirations must not mean 100,000
sleeping tasks; start-up with 100,000 pending costs under 2 seconds and under
50 MB of extra memory.

The database (migrated by Alembic) is filled with raw SQL: 1,000 guilds with
snowflake-shaped ids, 100 active temporary bans and mutes each (expiring over
the next 30 days, one target each) and 100 closed history cases each.
"Start-up" is what the bot does once the gateway is ready: a fresh `Database`
and `TimerService`, then the first `run_due()`, which finds nothing due and
returns the delay to the earliest timer. Reported for it: wall time (median
of 5 such cold starts, each with a new engine), the tracemalloc peak (another
cold start, so tracing does not slow the timed ones), RSS growth and the
asyncio tasks and threads alive afterwards (of the first cold start), the
tasks alive while the real loop `run()` sleeps, and the SQL statements it ran,
with the query plan of the expiry one. Warm `run_due()` calls are timed too.

Then 1,000 of the pending timers are made overdue and a fresh service starts:
the time until every one is ended, checked to be ended exactly once (one
gateway call and one closing unban/unmute case each, nothing more on a second
pass).

Floors, on the bare driver with one connection: the earliest-pending-expiry
query (plain, and with the shard filter the service adds), cold (connect +
query, median of 5) and warm, and warm the same four queries `run_due()` runs
(due and upcoming, expiries and renewals); and for the overdue part, ending
another 1,000 overdue cases by hand: a due batch of 100, then per case one
transaction that closes it `WHERE state = 'active'` and inserts the closing case.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import bindparam, event, text

from bench.common import BACKENDS, driver_dsn, fresh_database, median
from bot.domain.config import GuildConfig
from bot.domain.ports import BulkBanResult, Membership, ModLogEntry, SentDm
from bot.domain.shards import ShardScope
from bot.infra.cache import MemoryCache
from bot.services.config import ConfigService
from bot.services.timers import BotIdentity, TimerService
from db.engine import Database

BOT = BotIdentity(1, "Lockdown")
ALL_SHARDS = ShardScope(shard_count=1, shard_ids=frozenset({0}))
DISCORD_EPOCH_SPAN_MS = 1 << 41
THIRTY_DAYS = 30 * 86_400
WARM_CALLS = 50
COLD_STARTS = 5

EARLIEST = (
    "SELECT guild_id, number, expires_at FROM cases"
    " WHERE state = 'active' AND expires_at IS NOT NULL"
)
SHARD_FILTER = " AND ((guild_id >> 22) % 1) IN (0)"
ORDERED = " ORDER BY expires_at LIMIT 1"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class NullGateway:
    """A `DiscordActions` that does nothing on Discord and remembers every call."""

    calls: list[tuple[str, int, int]] = field(default_factory=list)

    async def send_dm(self, user_id: int, text: str) -> SentDm | None:
        self.calls.append(("dm", 0, user_id))
        return SentDm(user_id, len(self.calls))

    async def find_dm(self, user_id: int, marker: str) -> SentDm | None:
        return None

    async def is_banned(self, guild_id: int, user_id: int) -> bool:
        return False

    async def kicked(self, guild_id: int, user_id: int, marker: str) -> bool:
        return False

    async def user_exists(self, user_id: int) -> bool:
        return True

    async def membership(self, guild_id: int, user_id: int) -> Membership | None:
        return None

    async def delete_dm(self, sent: SentDm) -> bool:
        self.calls.append(("delete_dm", sent.channel_id, sent.message_id))
        return True

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str, delete_message_seconds: int
    ) -> None:
        self.calls.append(("ban", guild_id, user_id))

    async def unban(self, guild_id: int, user_id: int, *, reason: str) -> None:
        self.calls.append(("unban", guild_id, user_id))

    async def kick(self, guild_id: int, user_id: int, *, reason: str) -> None:
        self.calls.append(("kick", guild_id, user_id))

    async def timeout(
        self, guild_id: int, user_id: int, *, until: datetime | None, reason: str
    ) -> None:
        self.calls.append(("timeout" if until else "untimeout", guild_id, user_id))

    async def bulk_ban(
        self, guild_id: int, user_ids: list[int], *, reason: str, delete_message_seconds: int
    ) -> BulkBanResult:
        self.calls.extend(("ban", guild_id, user) for user in user_ids)
        return BulkBanResult(banned=list(user_ids), failed=[])

    async def post_modlog(self, channel_id: int, entry: ModLogEntry) -> bool:
        self.calls.append(("modlog", entry.case.guild_id, entry.case.number))
        return True


def timer_service(database: Database, gateway: NullGateway) -> TimerService:
    """Built as `bot.discord_side.client.LockdownBot` builds it, Discord aside."""
    clock = SystemClock()
    config = ConfigService(database, MemoryCache[GuildConfig](), clock)
    return TimerService(
        database, gateway, config, clock, identity=lambda: BOT, scope=lambda: ALL_SHARDS
    )


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextmanager
def captured_statements(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the autocommit pool sends to the driver, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        _conn, _cursor, statement, parameters, _context, _many = args
        seen.append((statement, parameters))

    engine = database.autocommit_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


# --------------------------------------------------------------------- filling


def _now_plus(backend: str, seconds: str) -> str:
    """SQL for now + `seconds` (an SQL expression), in the column's stored form."""
    if backend == "postgres":
        return f"now() + make_interval(secs => {seconds})"
    return f"strftime('%Y-%m-%d %H:%M:%f000', 'now', ({seconds}) || ' seconds')"


def _series(backend: str, name: str, bound: str) -> tuple[str, str]:
    """(WITH prefix, FROM item) for the integers 1..bound."""
    if backend == "postgres":
        return "", f"generate_series(1, {bound}) AS {name}"
    prefix = (
        f"WITH RECURSIVE {name}_seq(n) AS "
        f"(SELECT 1 UNION ALL SELECT n + 1 FROM {name}_seq WHERE n < {bound}) "
    )
    return prefix, f"(SELECT n AS {name} FROM {name}_seq)"


async def fill(database: Database, backend: str, guilds: int, pending: int, history: int) -> None:
    """Guilds, closed history, then the pending bans and mutes, set-based on the server."""
    rng = random.Random(22)
    ids: set[int] = set()
    while len(ids) < guilds:
        ids.add(rng.randrange(1, DISCORD_EPOCH_SPAN_MS) << 22)
    per_history, per_pending = history // guilds, pending // guilds
    active, closed = "'active'", "'closed'"
    columns = "guild_id, number, type, target_id, moderator_id, created_at, expires_at, state"
    # Deterministic spread of expiries over the next 30 days, from guild and number.
    spread = f"60 + ((g.id >> 22) % 104729 * 7919 + n * 2654435761) % {THIRTY_DAYS - 60}"
    with_h, from_h = _series(backend, "n", ":per_history")
    with_p, from_p = _series(backend, "n", ":per_pending")
    types = "CASE n % 5 WHEN 0 THEN 'warn' WHEN 1 THEN 'note' WHEN 2 THEN 'kick'"
    statements = [
        f"""{with_h}INSERT INTO cases ({columns})
            SELECT g.id, n, {types} WHEN 3 THEN 'ban' ELSE 'mute' END, 1000 + n, 7,
                   {_now_plus(backend, "-5184000 + n")},
                   CASE WHEN n % 5 >= 3 THEN {_now_plus(backend, "-2592000 + n")} END, {closed}
            FROM guilds AS g, {from_h}""",
        f"""{with_p}INSERT INTO cases ({columns})
            SELECT g.id, :per_history + n, CASE n % 2 WHEN 0 THEN 'ban' ELSE 'mute' END,
                   100000 + n, 7, {_now_plus(backend, "-3600")}, {_now_plus(backend, spread)},
                   {active}
            FROM guilds AS g, {from_p}""",
        # PostgreSQL allocates case numbers from this counter.
        "UPDATE guilds SET last_case_number = CAST(:per_history AS INTEGER) + :per_pending",
    ]
    params = {"per_history": per_history, "per_pending": per_pending}
    joined = "now()" if backend == "postgres" else "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    async with database.transaction() as uow:
        await uow.execute(
            text(f"INSERT INTO guilds (id, name, joined_at) VALUES (:id, 'bench', {joined})"),
            [{"id": guild} for guild in sorted(ids)],
        )
        for statement in statements:
            await uow.execute(text(statement), params)
    async with database.autocommit() as uow:
        await uow.execute(text("ANALYZE"))


async def choose_pending(database: Database, count: int) -> list[tuple[int, int, int]]:
    """`count` random pending cases, as (id, guild_id, number)."""
    async with database.autocommit() as uow:
        rows = await uow.execute(
            text("SELECT id, guild_id, number FROM cases WHERE state = 'active' ORDER BY id")
        )
        return random.Random(7).sample([(row[0], row[1], row[2]) for row in rows], count)


async def move_expiry(
    database: Database, backend: str, cases: list[tuple[int, int, int]], seconds: str
) -> None:
    """Set these cases to expire `seconds` (an SQL expression over the row) from now."""
    update = text(
        f"UPDATE cases SET expires_at = {_now_plus(backend, seconds)} WHERE id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    async with database.autocommit() as uow:
        await uow.execute(update, {"ids": [case[0] for case in cases]})


def stamp(dialect: str, moment: datetime) -> Any:
    """A UTC time as a bare driver binds it: naive text on SQLite."""
    return moment.replace(tzinfo=None).isoformat(" ") if dialect == "sqlite" else moment


# ------------------------------------------------------------------ the floor


class RawDriver:
    """One bare driver connection: aiosqlite or asyncpg."""

    def __init__(self, backend: str, dsn: str) -> None:
        self.backend = backend
        self.dsn = dsn
        self.connection: Any = None

    async def connect(self) -> None:
        if self.backend == "sqlite":
            self.connection = await aiosqlite.connect(self.dsn)
            await self.connection.execute("PRAGMA synchronous=NORMAL")
        else:
            self.connection = await asyncpg.connect(self.dsn)

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        if self.backend == "sqlite":
            return list(await self.connection.execute_fetchall(_qmarks(query), args))
        return list(await self.connection.fetch(query, *args))

    async def close(self) -> None:
        await self.connection.close()

    async def plan(self, statement: str, parameters: Any) -> str:
        """The query plan, in a few words."""
        if self.backend == "sqlite":
            rows = await self.connection.execute_fetchall(
                "EXPLAIN QUERY PLAN " + statement, tuple(parameters)
            )
            return "; ".join(str(row[3]) for row in rows)
        rows = await self.connection.fetch("EXPLAIN " + statement, *parameters)
        nodes = [str(row[0]).split("  (cost")[0].strip(" ->") for row in rows]
        return "; ".join(node for node in nodes if not node.startswith(("Filter", "Index Cond")))

    async def end_overdue(self) -> int:
        """End what is due by hand, as cheaply as exactly-once allows; how many were ended."""
        ended = 0
        while True:
            due = await self.fetch(
                EARLIEST + " AND expires_at <= $1 ORDER BY expires_at LIMIT 100", self.now()
            )
            for guild_id, number, _at in due:
                ended += await self._end(guild_id, number)
            if len(due) < 100:
                return ended

    def now(self) -> Any:
        return stamp(self.backend, datetime.now(UTC))

    async def _end(self, guild_id: int, number: int) -> int:
        deactivate = (
            "UPDATE cases SET state = 'closed'"
            " WHERE guild_id = $1 AND number = $2 AND state = 'active'"
            " RETURNING type, target_id"
        )
        columns = "guild_id, number, type, target_id, moderator_id, created_at, related_number"
        if self.backend == "sqlite":
            db = self.connection
            row = await (await db.execute(_qmarks(deactivate), (guild_id, number))).fetchone()
            if row is not None:
                await db.execute(
                    f"INSERT INTO cases ({columns}, state) SELECT ?, MAX(number) + 1, ?, ?, 1, ?,"
                    " ?, 'closed' FROM cases WHERE guild_id = ?",
                    (guild_id, "un" + row[0], row[1], self.now(), number, guild_id),
                )
            await db.commit()
            return int(row is not None)
        async with self.connection.transaction():
            row = await self.connection.fetchrow(deactivate, guild_id, number)
            if row is None:
                return 0
            await self.connection.execute(
                "WITH counter AS (UPDATE guilds SET last_case_number = last_case_number + 1"
                " WHERE id = $1 RETURNING last_case_number)"
                f" INSERT INTO cases ({columns}, state)"
                " SELECT $1, last_case_number, $2, $3, 1, $4, $5, 'closed' FROM counter",
                guild_id,
                "un" + row["type"],
                row["target_id"],
                self.now(),
                number,
            )
        return 1


def _qmarks(query: str) -> str:
    for index in range(9, 0, -1):
        query = query.replace(f"${index}", "?")
    return query


# --------------------------------------------------------------- measurements


@dataclass
class StartUp:
    seconds: float
    delay: float
    rss_growth: int
    tasks_before: int
    tasks_after: int
    threads: int
    statements: list[tuple[str, Any]]
    traced_peak: int = 0
    tasks_sleeping: int = 0


async def cold_start(url: str) -> StartUp:
    """The first `run_due()` of a brand-new `Database` and `TimerService`."""
    database = Database(url)
    gateway = NullGateway()
    service = timer_service(database, gateway)
    gc.collect()
    tasks_before, rss_before = len(asyncio.all_tasks()), rss_bytes()
    with captured_statements(database) as statements:
        started = time.perf_counter()
        delay = await service.run_due()
        elapsed = time.perf_counter() - started
    result = StartUp(
        elapsed,
        delay,
        rss_bytes() - rss_before,
        tasks_before,
        len(asyncio.all_tasks()),
        threading.active_count(),
        statements,
    )
    assert gateway.calls == [], f"nothing is due, yet the gateway saw {gateway.calls[:3]}"
    await database.dispose()
    return result


async def traced_cold_start(url: str) -> int:
    """The tracemalloc peak of another cold first `run_due()` (bytes above the start)."""
    database = Database(url)
    service = timer_service(database, NullGateway())
    gc.collect()
    tracemalloc.start()  # traces only what is allocated from here on
    try:
        await service.run_due()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await database.dispose()
    return peak


async def tasks_while_sleeping(url: str) -> int:
    """Tasks alive while the real loop (`run()`) sleeps until the next timer."""
    database = Database(url)
    service = timer_service(database, NullGateway())
    loop = asyncio.create_task(service.run())
    await asyncio.sleep(0.5)
    alive = len(asyncio.all_tasks())
    service.stop()
    await loop
    await database.dispose()
    return alive


async def warm_run_due(url: str) -> float:
    """Median seconds of `run_due()` once pools and statement caches are warm."""
    database = Database(url)
    service = timer_service(database, NullGateway())
    samples = []
    for index in range(WARM_CALLS + 5):
        started = time.perf_counter()
        await service.run_due()
        if index >= 5:
            samples.append(time.perf_counter() - started)
    await database.dispose()
    return median(samples)


@dataclass
class Floor:
    cold: float  # connect + the shard-filtered query
    plain: float  # warm medians from here on
    filtered: float
    same_work: float  # due and upcoming, expiries and renewals: the statements run_due runs
    plans: dict[str, str]


def _renewals(query: str) -> str:
    return query.replace("expires_at", "renew_at")


async def cold_floor(backend: str, url: str) -> float:
    """Seconds to connect the bare driver and ask for the earliest timer once."""
    driver = RawDriver(backend, driver_dsn(url))
    started = time.perf_counter()
    await driver.connect()
    found = await driver.fetch(EARLIEST + SHARD_FILTER + ORDERED)
    elapsed = time.perf_counter() - started
    await driver.close()
    assert len(found) == 1
    return elapsed


async def floor(backend: str, url: str, service_statements: list[tuple[str, Any]]) -> Floor:
    cold = median([await cold_floor(backend, url) for _ in range(COLD_STARTS)])
    driver = RawDriver(backend, driver_dsn(url))
    await driver.connect()
    due = EARLIEST + SHARD_FILTER + " AND expires_at <= $1 ORDER BY expires_at LIMIT 100"
    upcoming = EARLIEST + SHARD_FILTER + ORDERED
    steps: dict[str, list[tuple[str, bool]]] = {  # (query, binds now)
        "plain": [(EARLIEST + ORDERED, False)],
        "filtered": [(upcoming, False)],
        "same_work": [
            (due, True),
            (_renewals(due), True),
            (upcoming, False),
            (_renewals(upcoming), False),
        ],
    }
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for index in range(WARM_CALLS + 5):
        for name, queries in steps.items():
            started = time.perf_counter()
            for query, binds_now in queries:
                await driver.fetch(query, *([driver.now()] if binds_now else []))
            if index >= 5:
                samples[name].append(time.perf_counter() - started)
    plans = {"floor": await driver.plan(_qmarks(EARLIEST + ORDERED), ())}
    for statement, parameters in service_statements:
        if "expires_at" in statement and "<=" not in statement:
            plans["service"] = await driver.plan(statement, parameters)
    await driver.close()
    plain, filtered, same_work = (median(samples[name]) for name in steps)
    return Floor(cold, plain, filtered, same_work, plans)


@dataclass
class Overdue:
    count: int
    seconds: float
    floor_seconds: float


async def end_overdue(backend: str, url: str, count: int) -> Overdue:
    """A fresh service ends `count` overdue timers; a raw driver ends `count` others."""
    database = Database(url)
    chosen = await choose_pending(database, 2 * count)
    mine, theirs = chosen[:count], chosen[count:]
    await move_expiry(database, backend, mine, "-1 - id % 3600")

    gateway = NullGateway()
    service = timer_service(database, gateway)
    started = time.perf_counter()
    await service.run_due()
    elapsed = time.perf_counter() - started
    await service.run_due()  # a second pass must find nothing left to end
    await check_ended_once(database, gateway, mine)
    assert len(gateway.calls) == count, f"{len(gateway.calls) - count} extra gateway calls"

    await move_expiry(database, backend, theirs, "-1 - id % 3600")
    await database.dispose()
    driver = RawDriver(backend, driver_dsn(url))
    await driver.connect()
    started = time.perf_counter()
    ended = await driver.end_overdue()
    floor_elapsed = time.perf_counter() - started
    await driver.close()
    assert ended == count, f"the floor ended {ended} of {count}"
    return Overdue(count, elapsed, floor_elapsed)


async def check_ended_once(
    database: Database, gateway: NullGateway, chosen: list[tuple[int, int, int]]
) -> None:
    """One gateway call and one closing case per overdue case; all of them inactive."""
    expected = {(guild_id, number) for _id, guild_id, number in chosen}
    async with database.autocommit() as uow:
        rows = await uow.execute(
            text(
                "SELECT guild_id, related_number, COUNT(*) FROM cases"
                " WHERE type IN ('unban', 'unmute') GROUP BY guild_id, related_number"
            )
        )
        closing = {(guild_id, number): copies for guild_id, number, copies in rows}
        still_active = await uow.execute(
            text("SELECT COUNT(*) FROM cases WHERE state = 'active' AND expires_at <= :now"),
            {"now": stamp(database.dialect, datetime.now(UTC))},
        )
        left = still_active.scalar_one()
    assert set(closing) == expected, f"{len(set(closing) ^ expected)} cases closed wrongly"
    assert all(copies == 1 for copies in closing.values()), "a case was closed twice"
    assert left == 0, f"{left} overdue cases are still active"
    lifted = [call for call in gateway.calls if call[0] in ("unban", "untimeout")]
    assert len(lifted) == len(set(lifted)) == len(expected), "a punishment was lifted twice"


# ------------------------------------------------------------------ reporting


async def run_backend(
    backend: str, guilds: int, pending: int, history: int, overdue: int
) -> list[str]:
    async with fresh_database(backend) as url:
        database = Database(url)
        started = time.perf_counter()
        await fill(database, backend, guilds, pending, history)
        filled = time.perf_counter() - started
        await database.dispose()
        print(
            f"timers       {backend:8}  filled {guilds:,} guilds, {pending:,} pending, "
            f"{history:,} history in {filled:.1f} s",
            flush=True,
        )
        starts = [await cold_start(url) for _ in range(COLD_STARTS)]
        start = starts[0]  # the first cold start's RSS growth and tasks are the ones reported
        start.seconds = median([each.seconds for each in starts])
        start.traced_peak = await traced_cold_start(url)
        start.tasks_sleeping = await tasks_while_sleeping(url)
        warm = await warm_run_due(url)
        base = await floor(backend, url, start.statements)
        ended = await end_overdue(backend, url, overdue)
    return report(backend, start, warm, base, ended)


def report(backend: str, start: StartUp, warm: float, base: Floor, ended: Overdue) -> list[str]:
    ms, mb = 1e3, 1 / (1 << 20)
    met = start.seconds < 2 and start.rss_growth * mb < 50 and start.traced_peak * mb < 50
    return [
        f"timers       {backend:8}  start-up {start.seconds * ms:.1f} ms "
        f"(floor {base.cold * ms:.2f} ms connect+query, {start.seconds / base.cold:.0f}x), "
        f"peak {start.traced_peak * mb:.2f} MB, rss +{start.rss_growth * mb:.1f} MB, "
        f"tasks {start.tasks_after} (before {start.tasks_before}, "
        f"{start.tasks_sleeping} while run() sleeps), threads {start.threads}, "
        f"{len(start.statements)} statements, "
        f"next timer in {start.delay:.0f} s; target <2 s, <50 MB: {'met' if met else 'MISSED'}",
        f"timers       {backend:8}  warm run_due {warm * ms:.2f} ms (floor {base.filtered * ms:.3f}"
        f" ms shard-filtered query, {warm / base.filtered:.0f}x; unfiltered "
        f"{base.plain * ms:.3f} ms; the same 4 queries {base.same_work * ms:.3f} ms, "
        f"{warm / base.same_work:.0f}x)",
        f"timers       {backend:8}  {ended.count:,} overdue ended in {ended.seconds:.2f} s, each "
        f"once (floor {ended.floor_seconds:.2f} s, {ended.seconds / ended.floor_seconds:.1f}x)",
        f"timers       {backend:8}  plan: service {base.plans.get('service', '?')} | "
        f"floor {base.plans['floor']}",
    ]


async def main(guilds: int, pending: int, history: int, overdue: int, backends: list[str]) -> None:
    for backend in backends:
        for line in await run_backend(backend, guilds, pending, history, overdue):
            print(line, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guilds", type=int, default=1_000)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--overdue", type=int, default=1_000)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    args = parser.parse_args()
    asyncio.run(
        main(args.guilds, args.pending, args.history, args.overdue, args.backend or list(BACKENDS))
    )
