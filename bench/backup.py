"""Backup and restore of a database holding 1,000,000 cases, against raw-driver floors.

Target (issue 11): at least half the floor's rows per second, and memory
bounded by streaming: under 100 MB above the process's size just before.

- Backup: `db.backup.write_backup` against the floor, the bare driver running
  the same per-table statements in one snapshot transaction (PostgreSQL: COPY
  through asyncpg's `copy_from_query`; SQLite: aiosqlite `fetchmany`) into the
  same codec, with no reflection, framing, counting or checksum.
- Restore: `db.backup.restore_file` into an empty database (it builds the
  schema, loads, checks counts, checksum and foreign keys, sets sequences and
  counters, all in one transaction: all timed) against the floor, the bare
  driver loading the same file into a database already at head in one
  transaction (PostgreSQL: `copy_records_to_table`; SQLite: `executemany`),
  decoding each row with `json.loads` and nothing else but the datetimes the
  driver needs.

Peak RSS is sampled every 5 ms in a thread (/proc/self/statm), relative to
the RSS just before each operation. Floor and Lockdown alternate, three runs
each (`--rounds`); the medians are compared. `--compare-codecs` times each candidate
codec on the same backup's bytes (how the codec was chosen); `--codec gzip`
runs the whole benchmark with gzip instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import aiosqlite
import asyncpg
import zstandard
from sqlalchemy import text

from bench.common import BACKENDS, driver_dsn, fresh_database, median
from db import backup
from db.engine import Database

GUILDS = 100
PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """The highest RSS seen while it runs, over the RSS when it started."""

    def __init__(self) -> None:
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.base) / 1e6


@dataclass
class Run:
    seconds: float
    extra_mb: float


async def timed(work: Callable[[], Awaitable[Any]]) -> Run:
    with PeakRss() as rss:
        started = time.perf_counter()
        await work()
        elapsed = time.perf_counter() - started
    return Run(elapsed, rss.extra_mb)


async def fill(url: str, cases: int) -> None:
    """`cases` cases over GUILDS guilds, every type and state, some with expiries,
    reasons with non-ASCII text; plus settings and change-log entries."""
    database = Database(url)
    now = datetime.now(UTC)
    async with database.transaction() as uow:
        for guild in range(1, GUILDS + 1):
            await uow.guilds.record_join(guild, f"guild {guild}", now=now)
            await uow.settings.set(guild, "appeal_text", "write to us ✉", actor_id=1, now=now)
            await uow.settings.set(guild, "warn_expiry_days", 30, actor_id=1, now=now)
    params: dict[str, object] = {"rows": cases, "guilds": GUILDS}
    if database.dialect == "postgresql":
        insert = """
            INSERT INTO cases (guild_id, number, type, target_id, moderator_id, reason,
                               created_at, expires_at, state, dm_delivered)
            SELECT 1 + n % :guilds, 1 + n / :guilds,
                   (ARRAY['warn','ban','mute','kick','note','unban'])[1 + n % 6],
                   100000 + n % 50000, 7, 'spam in #général ✨ ' || n,
                   now() - make_interval(secs => :rows - n),
                   CASE WHEN n % 7 = 0 THEN now() + make_interval(secs => n) END,
                   (ARRAY['closed','closed','failed','pending','closed'])[1 + n % 5],
                   n % 3 = 0
            FROM generate_series(0, :rows - 1) AS n"""
    else:
        params["types"] = '["warn","ban","mute","kick","note","unban"]'
        params["states"] = '["closed","closed","failed","pending","closed"]'
        insert = """
            WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < :rows - 1)
            INSERT INTO cases (guild_id, number, type, target_id, moderator_id, reason,
                               created_at, expires_at, state, dm_delivered)
            SELECT 1 + n % :guilds, 1 + n / :guilds,
                   json_extract(:types, '$[' || (n % 6) || ']'),
                   100000 + n % 50000, 7, 'spam in #général ✨ ' || n,
                   strftime('%Y-%m-%d %H:%M:%f000', 'now', '-' || (:rows - n) || ' seconds'),
                   CASE WHEN n % 7 = 0
                        THEN strftime('%Y-%m-%d %H:%M:%f000', 'now', '+' || n || ' seconds') END,
                   json_extract(:states, '$[' || (n % 5) || ']'),
                   n % 3 = 0
            FROM seq"""
    changes = """
        INSERT INTO changes (guild_id, actor_id, action, entity, entity_id, before, after,
                             created_at)
        SELECT guild_id, moderator_id, 'reason', 'case', CAST(number AS TEXT),
               '{"reason": null}', '{"reason": "spam"}', created_at
        FROM cases WHERE number % 10 = 0"""
    async with database.transaction() as uow:
        await uow.execute(text(insert), params)
        await uow.execute(text(changes))
    await database.dispose()


# --- floors ------------------------------------------------------------------


async def floor_backup(url: str, file: BinaryIO, codec: str) -> None:
    """The same statements on the bare driver, into the same codec; nothing else."""
    out = backup._compressing(file, codec)
    engine_url = url
    database = Database(engine_url)
    async with database.engine.connect() as connection:  # only to list the tables
        tables = await connection.run_sync(backup._reflect)
        quote = connection.dialect.identifier_preparer.quote
        dialect = connection.dialect.name
    await database.dispose()
    statements = [(t.name, backup._json_select(t, dialect, quote)) for t in tables]
    out.write(b'{"format":"lockdown-backup"}\n')
    if dialect == "postgresql":
        raw = await asyncpg.connect(driver_dsn(url))

        async def sink(chunk: bytes) -> None:
            out.write(chunk)

        try:
            async with raw.transaction(isolation="repeatable_read", readonly=True):
                for name, statement in statements:
                    out.write(b'{"table":"%s"}\n' % name.encode())
                    await raw.copy_from_query(
                        statement, output=sink, format="csv", delimiter="\x02", quote="\x01"
                    )
        finally:
            await raw.close()
    else:
        async with aiosqlite.connect(driver_dsn(url), isolation_level=None) as raw:
            await raw.execute("BEGIN")
            for name, statement in statements:
                out.write(b'{"table":"%s"}\n' % name.encode())
                cursor = await raw.execute(statement)
                while rows := await cursor.fetchmany(backup.CHUNK_ROWS):
                    out.write("".join([row[0] + "\n" for row in rows]).encode())
                await cursor.close()
            await raw.execute("COMMIT")
    out.write(b'{"end":true}\n')
    out.close()


def _floor_rows(file: BinaryIO) -> Any:
    """(table, columns, rows) chunks of the file: lines split and `json.loads`-ed."""
    source = backup._decompressing(file)
    carry = b""
    header: dict[str, Any] | None = None
    kinds: dict[str, list[str]] = {}
    table, rows = "", []
    while block := source.read(backup.READ_BLOCK):
        lines = (carry + block).split(b"\n")
        carry = lines.pop()
        for line in lines:
            if line[:1] == b"[":
                rows.append(json.loads(line))
                if len(rows) >= backup.CHUNK_ROWS:
                    yield table, kinds[table], rows
                    rows = []
                continue
            record = json.loads(line)
            if header is None:
                header = record
                kinds = {t["name"]: [c["type"] for c in t["columns"]] for t in header["tables"]}
                continue
            if rows:
                yield table, kinds[table], rows
                rows = []
            table = record.get("table", "")
    if rows:
        yield table, kinds[table], rows


async def floor_restore(url: str, file: BinaryIO) -> None:
    """The file's rows into a database already at head, one transaction, bare driver."""
    names: dict[str, list[str]] = {}
    database = Database(url)
    async with database.engine.connect() as connection:
        for table in await connection.run_sync(backup._reflect):
            names[table.name] = [c.name for c in table.columns]
    await database.dispose()
    if url.startswith("postgresql"):
        raw = await asyncpg.connect(driver_dsn(url))
        try:
            async with raw.transaction():
                for table, kinds, rows in _floor_rows(file):
                    if table == "alembic_version":
                        continue
                    _datetimes(rows, kinds, backup._to_datetime)
                    await raw.copy_records_to_table(table, records=rows, columns=names[table])
        finally:
            await raw.close()
        return
    async with aiosqlite.connect(driver_dsn(url), isolation_level=None) as raw:
        await raw.execute("BEGIN")
        for table, kinds, rows in _floor_rows(file):
            if table == "alembic_version":
                continue
            _datetimes(rows, kinds, backup._to_sqlite_datetime)
            columns = names[table]
            marks = ", ".join("?" * len(columns))
            await raw.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )
        await raw.execute("COMMIT")


def _datetimes(rows: list[list[Any]], kinds: list[str], convert: Callable[[str], Any]) -> None:
    positions = [i for i, kind in enumerate(kinds) if kind == "datetime"]
    for row in rows:
        for i in positions:
            if row[i] is not None:
                row[i] = convert(row[i])


# --- the codec ---------------------------------------------------------------

CODECS = (("zstd", 1), ("zstd", 3), ("gzip", 1), ("gzip", 6))


def _compress(codec: str, level: int, data: bytes) -> bytes:
    step = backup.READ_BLOCK
    if codec == "zstd":
        compressor = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
        parts = [compressor.compress(data[i : i + step]) for i in range(0, len(data), step)]
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # gzip framing
        parts = [compressor.compress(data[i : i + step]) for i in range(0, len(data), step)]
    return b"".join([*parts, compressor.flush()])


def _decompress(codec: str, blob: bytes) -> int:
    source = (
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob))
        if codec == "zstd"
        else gzip.GzipFile(fileobj=io.BytesIO(blob))
    )
    total = 0
    while block := source.read(backup.READ_BLOCK):
        total += len(block)
    return total


def compare_codecs(path: Path, rows: int, rounds: int = 3) -> list[str]:
    """CPU seconds per row to compress and decompress the same backup, the codecs
    interleaved round by round (the machine's noise hits all alike); best round."""
    with path.open("rb") as file:
        source = backup._decompressing(file)
        data = b"".join(iter(lambda: source.read(backup.READ_BLOCK), b""))
    best: dict[tuple[str, int], tuple[float, float, int]] = {}
    for _ in range(rounds):
        for codec, level in CODECS:
            started = time.process_time()
            blob = _compress(codec, level, data)
            packed = time.process_time() - started
            started = time.process_time()
            assert _decompress(codec, blob) == len(data)
            unpacked = time.process_time() - started
            old = best.get((codec, level), (packed, unpacked, len(blob)))
            best[(codec, level)] = (min(old[0], packed), min(old[1], unpacked), len(blob))
    size_mb = len(data) / 1e6
    lines = [f"codec   {size_mb:.0f} MB JSON Lines, {rows:,} rows; CPU per row, best of {rounds}"]
    for (codec, level), (packed, unpacked, size) in best.items():
        lines.append(
            f"codec   {codec} {level}   compress {packed / rows * 1e6:.2f} us  "
            f"decompress {unpacked / rows * 1e6:.2f} us  {size / 1e6:.1f} MB "
            f"({len(data) / size:.1f}x)"
        )
    return lines


# --- the run -----------------------------------------------------------------


async def run_backend(
    backend: str, cases: int, codec: str, *, rounds: int = 3, codecs: bool = False
) -> list[str]:
    """Floor and Lockdown alternate, `rounds` times each; medians are reported."""
    lines = []
    with tempfile.TemporaryDirectory() as directory:
        ours, floor = Path(directory) / "ours.lkd", Path(directory) / "floor.lkd"
        async with fresh_database(backend) as source:
            started = time.perf_counter()
            await fill(source, cases)
            elapsed = time.perf_counter() - started
            lines.append(f"backup  {backend:8}  filled {cases:,} cases in {elapsed:.1f} s")
            summary: backup.Summary | None = None

            async def ours_backup() -> None:
                nonlocal summary
                with ours.open("wb") as file:
                    summary = await backup.write_backup(source, file, codec=codec)

            async def floor_backup_() -> None:
                with floor.open("wb") as file:
                    await floor_backup(source, file, codec)

            backups: dict[str, list[Run]] = {"ours": [], "floor": []}
            for _ in range(rounds):
                backups["floor"].append(await timed(floor_backup_))
                backups["ours"].append(await timed(ours_backup))
            assert summary is not None
            rows = summary.total_rows
            size = ours.stat().st_size
            lines.append(
                _report(backend, "backup ", rows, backups)
                + f"   {size / 1e6:.1f} MB ({codec}, {size / rows:.0f} B/row)"
            )
            verify = await timed(lambda: asyncio.to_thread(backup.verify_path, ours))
            lines.append(
                f"backup  {backend:8}  verify  {rows / verify.seconds:10,.0f} rows/s "
                f"({verify.seconds:.1f} s), rss +{verify.extra_mb:.0f} MB"
            )
            if codecs:
                lines += compare_codecs(ours, rows)
        restores: dict[str, list[Run]] = {"ours": [], "floor": []}
        for _ in range(rounds):
            async with fresh_database(backend) as target:  # at head, as the floor needs

                async def floor_restore_() -> None:
                    with ours.open("rb") as file:
                        await floor_restore(target, file)

                restores["floor"].append(await timed(floor_restore_))
            async with fresh_database(backend) as target:
                await _empty(target)
                restores["ours"].append(await timed(lambda: backup.restore_path(target, ours)))
        lines.append(_report(backend, "restore", rows, restores))
    return lines


async def _empty(url: str) -> None:
    """`fresh_database` migrates; the restore is timed from a database with no schema."""
    from db import migrate

    await asyncio.to_thread(migrate.downgrade, url, "base")
    if url.startswith("postgresql"):
        raw = await asyncpg.connect(driver_dsn(url))
        await raw.execute("DROP TABLE IF EXISTS alembic_version")
        await raw.close()
    else:
        async with aiosqlite.connect(driver_dsn(url)) as raw:
            await raw.execute("DROP TABLE IF EXISTS alembic_version")
            await raw.commit()


def _report(backend: str, what: str, rows: int, runs: dict[str, list[Run]]) -> str:
    ours = median([run.seconds for run in runs["ours"]])
    floor = median([run.seconds for run in runs["floor"]])
    ours_mb = max(run.extra_mb for run in runs["ours"])
    floor_mb = max(run.extra_mb for run in runs["floor"])
    spread = ", ".join(f"{run.seconds:.1f}" for run in runs["ours"])
    floors = ", ".join(f"{run.seconds:.1f}" for run in runs["floor"])
    met = ours <= 2 * floor and ours_mb < 100
    return (
        f"backup  {backend:8}  {what} {rows / ours:10,.0f} rows/s ({spread} s, "
        f"rss +{ours_mb:.0f} MB)   floor {rows / floor:10,.0f} rows/s ({floors} s, "
        f"rss +{floor_mb:.0f} MB)   {floor / ours:.2f}x floor; "
        f"target >= 0.5x, < 100 MB: {'met' if met else 'MISSED'}"
    )


async def main(
    cases: int,
    backends: list[str],
    codec: str = backup.CODEC,
    *,
    rounds: int = 3,
    codecs: bool = False,
) -> None:
    for backend in backends:
        for line in await run_backend(backend, cases, codec, rounds=rounds, codecs=codecs):
            print(line, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--codec", choices=("zstd", "gzip"), default=backup.CODEC)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    parser.add_argument(
        "--compare-codecs", action="store_true", help="also time each codec on the backup's data"
    )
    args = parser.parse_args()
    backends = args.backend or list(BACKENDS)
    options = {"rounds": args.rounds, "codecs": args.compare_codecs}
    asyncio.run(main(args.cases, backends, args.codec, **options))
