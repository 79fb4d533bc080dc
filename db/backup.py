"""Whole-database backups: a consistent snapshot in one portable, compressed stream.

The format (version 1) is UTF-8 JSON Lines inside one Zstandard stream (the
codec was chosen by measurement, `bench/RESULTS.md`; gzip files are read
too). `zstd -dc FILE` shows it:

    {"format": "lockdown-backup", "version": 1, "revision": "0005", "tables": [...], ...}
    {"table": "alembic_version"}
    ["0005"]
    {"table": "guilds"}
    [800000000000000001, "My Guild", "2026-11-22T12:30:15.123456+00:00", null, 3, null]
    ...
    {"end": true, "rows": {"alembic_version": 1, "guilds": 1, ...}, "sha256": "9f86d0..."}

- The header names the schema revision (Alembic's) the data belongs to and,
  per table, its columns with a portable type: `int`, `bool`, `text`,
  `datetime` or `json`.
- Then every table, in the header's order (parents before children): a
  `{"table": NAME}` line, then one JSON array per row, values in the
  header's column order. Integers are exact (64-bit ids), booleans are
  `true`/`false`, datetimes are ISO 8601 in UTC (`...T12:30:15.123456+00:00`;
  one without an offset is UTC), and a `json` column's value is carried as
  its JSON text, a string, so SQL NULL (`null`) and JSON `null` (`"null"`)
  stay apart and the text comes back byte for byte.
- The last line is the footer: the row count of every table and the SHA-256
  of every uncompressed byte before the footer line.

Backups read one snapshot (PostgreSQL: one REPEATABLE READ, read-only
transaction; SQLite: one read transaction, which WAL keeps from blocking the
bot), so they can be taken while the bot runs. Rows are turned into JSON by the
database itself and streamed in chunks, as a restore streams them back: memory
does not grow with the size of the database.

A restore runs in one transaction on the target: the schema is built at the
backup's revision (the target's own Lockdown tables dropped first, which only
`replace` allows when they hold rows), the rows loaded, counts and checksum
checked, id sequences and case-number counters set, and the schema upgraded
to head; anything that fails or is interrupted leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import zstandard
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlalchemy.types import JSON, Boolean, DateTime, Integer, String, TypeEngine

from db import migrate
from db.engine import create_engine, is_sqlite
from db.models import Base

FORMAT = "lockdown-backup"
VERSION = 1
#: Rows per fetch, insert and progress step: big enough to amortise a round trip,
#: small enough that a chunk of any table stays a few megabytes.
CHUNK_ROWS = 5_000
READ_BLOCK = 1 << 20
#: Both backends cap a function's arguments at 100 (json_build_array, json_array).
MAX_COLUMNS = 100

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


class BackupError(Exception):
    """A backup cannot be written, read or restored; the message says why."""


class BackupCorrupt(BackupError):
    """The file is not an intact Lockdown backup."""


class BackupFromNewerLockdown(BackupError):
    """The backup's schema revision is unknown to this version of Lockdown."""


class TargetNotEmpty(BackupError):
    """The database to restore into already holds data (and replacing was not asked for)."""


class BackupFileError(BackupError):
    """The backup file itself cannot be read or written (permissions, disk space)."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # int, bool, text, datetime or json


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Summary:
    """What a backup holds (or held, once restored)."""

    revision: str
    rows: dict[str, int]
    sha256: str
    created_at: str = ""
    source: str = ""
    upgraded_to: str | None = None  # set by a restore that upgraded an older backup

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


# --- codecs ------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def close(self) -> None: ...


class _Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


#: The codec backups are written with, and its level (bench/RESULTS.md: zstd level 1
#: compresses about twice as fast as gzip level 1 and to half the size).
CODEC = "zstd"
CODEC_LEVEL = {"zstd": 1, "gzip": 1}


def _compressing(file: BinaryIO, codec: str) -> _Sink:
    if codec == "zstd":
        compressor = zstandard.ZstdCompressor(level=CODEC_LEVEL["zstd"], write_checksum=True)
        return compressor.stream_writer(file, closefd=False)
    if codec == "gzip":
        return gzip.GzipFile(fileobj=file, mode="wb", compresslevel=CODEC_LEVEL["gzip"], mtime=0)
    raise ValueError(f"unknown codec {codec!r}")


def _decompressing(file: BinaryIO) -> _Source:
    """A reader of the uncompressed stream; the codec is told by its magic bytes."""
    source: Any = _Eager(file)  # as good as the file object both libraries expect
    magic = source.peek(4)
    if magic.startswith(ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().stream_reader(
            source, read_across_frames=True, closefd=False
        )
    if magic.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=source, mode="rb")
    raise BackupCorrupt("not a Lockdown backup (neither Zstandard nor gzip data)")


class _Eager:
    """A file whose `read(n)` returns what has arrived (at least a byte) rather than
    waiting for all `n`: a backup read from a pipe is restored as it comes."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._read1 = getattr(file, "read1", file.read)
        self._head = b""

    def peek(self, size: int) -> bytes:
        while len(self._head) < size:
            more = self._read1(size - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:size]

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return bytes(self._read1(size) if size >= 0 else self._file.read())


_CODEC_ERRORS = (zstandard.ZstdError, zlib.error, gzip.BadGzipFile, EOFError)


# --- the stream --------------------------------------------------------------


def _line(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class _Writer:
    """The uncompressed stream on its way out: hashed, counted, compressed."""

    def __init__(self, file: BinaryIO, codec: str) -> None:
        self._name = getattr(file, "name", "the backup file")
        self._out = _compressing(file, codec)
        self._sha256 = hashlib.sha256()
        self.rows: dict[str, int] = {}

    def write(self, data: bytes) -> None:
        self._sha256.update(data)
        self._put(data)

    def _put(self, data: bytes) -> None:
        try:
            self._out.write(data)
        except OSError as error:
            raise BackupFileError(f"cannot write {self._name}: {error.strerror or error}") from None

    def finish(self) -> str:
        digest = self._sha256.hexdigest()
        self._put(_line({"end": True, "rows": self.rows, "sha256": digest}))
        try:
            self._out.close()
        except OSError as error:
            raise BackupFileError(f"cannot write {self._name}: {error.strerror or error}") from None
        return digest


class _Lines:
    """The uncompressed lines of a backup; every byte before the footer is hashed.

    The footer is the last line, so the hash runs one line behind the reader:
    whatever follows the last complete line of a block waits for the next one.
    """

    def __init__(self, file: BinaryIO) -> None:
        self._name = getattr(file, "name", "the backup")
        try:
            self._source = _decompressing(file)
        except OSError as error:
            raise BackupFileError(f"cannot read {self._name}: {error.strerror or error}") from None
        self.sha256 = hashlib.sha256()
        self.footer = b""

    def _read(self) -> bytes:
        try:
            return self._source.read(READ_BLOCK)
        except _CODEC_ERRORS as error:
            raise BackupCorrupt(f"the compressed data is damaged ({error})") from None
        except OSError as error:
            raise BackupFileError(f"cannot read {self._name}: {error.strerror or error}") from None

    def __iter__(self) -> Iterator[bytes]:
        carry = b""
        while block := self._read():
            data = carry + block
            end = data.rfind(b"\n")
            start = data.rfind(b"\n", 0, end) + 1 if end > 0 else 0
            if start == 0:
                carry = data
                continue
            complete = data[:start]
            self.sha256.update(complete)
            yield from complete[:-1].split(b"\n")
            carry = data[start:]
        if not carry.endswith(b"\n") or carry.count(b"\n") != 1:
            raise BackupCorrupt("the backup is truncated (it has no footer)")
        self.footer = carry[:-1]


def _header(lines: Iterator[bytes]) -> dict[str, Any]:
    first = next(lines, b"")
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupCorrupt("not a Lockdown backup (no header)")
    if header.get("version") != VERSION:
        raise BackupError(
            f"this backup has format version {header.get('version')}; this Lockdown reads "
            f"version {VERSION}: use the Lockdown that made it"
        )
    try:
        header["specs"] = [
            TableSpec(t["name"], tuple(Column(c["name"], c["type"]) for c in t["columns"]))
            for t in header["tables"]
        ]
        str(header["revision"])
    except (KeyError, TypeError) as error:
        raise BackupCorrupt(f"the backup's header is malformed ({error})") from None
    return header


Batch = list[list[Any]]


def _batches(
    lines: _Lines, it: Iterator[bytes], specs: list[TableSpec]
) -> Iterator[tuple[TableSpec, Batch]]:
    """Each table's rows, a chunk at a time (an empty chunk when a table starts);
    the footer's counts and checksum are checked once the last row is read."""
    expected = iter(specs)
    counts: dict[str, int] = {}
    spec: TableSpec | None = None
    width = 0
    batch: Batch = []
    loads = json.loads
    for line in it:
        if line[:1] == b"[":
            try:
                row = loads(line)
            except ValueError:
                row = None
            if spec is None or not isinstance(row, list) or len(row) != width:
                where = (
                    f"row {counts[spec.name] + len(batch) + 1} of {spec.name}" if spec else "a row"
                )
                raise BackupCorrupt(f"{where} is not a row of {width} values")
            batch.append(row)
            if len(batch) >= CHUNK_ROWS:
                counts[spec.name] += len(batch)
                yield spec, batch
                batch = []
            continue
        try:
            name = loads(line)["table"]
        except (ValueError, KeyError, TypeError):
            after = f" after table {spec.name}" if spec else ""
            raise BackupCorrupt(f"a line{after} is neither a row nor a table") from None
        if spec is not None and batch:
            counts[spec.name] += len(batch)
            yield spec, batch
            batch = []
        spec = next(expected, None)
        if spec is None or spec.name != name:
            raise BackupCorrupt(f"table {name!r} is not the one the header lists next")
        width = len(spec.columns)
        counts[name] = 0
        yield spec, []
    if spec is not None and batch:
        counts[spec.name] += len(batch)
        yield spec, batch
    missing = [s.name for s in expected]
    if missing:
        raise BackupCorrupt(f"the backup is truncated (tables {', '.join(missing)} are missing)")
    _check_footer(lines, counts)


def _check_footer(lines: _Lines, counts: dict[str, int]) -> None:
    try:
        footer = json.loads(lines.footer)
        rows, digest = footer["rows"], footer["sha256"]
    except (ValueError, KeyError, TypeError):
        raise BackupCorrupt("the backup's footer is malformed") from None
    if rows != counts:
        differ = sorted(k for k in set(rows) | set(counts) if rows.get(k) != counts.get(k))
        raise BackupCorrupt(f"row counts differ from the footer's (tables {', '.join(differ)})")
    if digest != lines.sha256.hexdigest():
        raise BackupCorrupt("the checksum does not match: the backup was altered or damaged")


# --- reading a database ------------------------------------------------------


def _kind(type_: TypeEngine[Any]) -> str:
    if isinstance(type_, Boolean):
        return "bool"
    if isinstance(type_, Integer):
        return "int"
    if isinstance(type_, DateTime):
        return "datetime"
    if isinstance(type_, JSON):
        return "json"
    if isinstance(type_, String):
        return "text"
    raise BackupError(f"a column of type {type_} cannot be backed up")


def _reflect(connection: Connection) -> list[Table]:
    """Every table of the database, parents before children (SQLite's own and
    Alembic's leftovers aside)."""
    metadata = MetaData()
    metadata.reflect(connection, only=lambda name, _: not name.startswith(("sqlite_", "_alembic")))
    return list(metadata.sorted_tables)


def _specs(tables: list[Table]) -> list[TableSpec]:
    specs = []
    for table in tables:
        if len(table.columns) > MAX_COLUMNS:
            raise BackupError(f"table {table.name} has more than {MAX_COLUMNS} columns")
        specs.append(
            TableSpec(table.name, tuple(Column(c.name, _kind(c.type)) for c in table.columns))
        )
    return specs


_SQLITE_STORED_DATETIME = (  # what SQLAlchemy writes: 'YYYY-MM-DD HH:MM:SS.ffffff'
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]."
    "[0-9][0-9][0-9][0-9][0-9][0-9]"
)


def _json_select(table: Table, dialect: str, quote: Callable[[str], str]) -> str:
    """One JSON array per row, built by the database (much faster than in Python)."""
    values = []
    for column in table.columns:
        name, kind = quote(column.name), _kind(column.type)
        if dialect == "postgresql":
            if kind == "datetime":
                zone = " AT TIME ZONE 'UTC'" if getattr(column.type, "timezone", False) else ""
                name = f"""to_char({name}{zone}, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
            elif kind == "json":
                name = f"{name}::text"
        elif kind == "datetime":
            name = (
                f"CASE WHEN {name} GLOB '{_SQLITE_STORED_DATETIME}' THEN "
                f"substr({name}, 1, 10) || 'T' || substr({name}, 12) || '+00:00' ELSE {name} END"
            )
        elif kind == "json":  # the declared type JSON has numeric affinity: '30' is stored as 30
            name = f"CAST({name} AS TEXT)"
        elif kind == "bool":
            name = f"json(CASE WHEN {name} IS NULL THEN 'null' WHEN {name} THEN 'true' ELSE 'false' END)"  # noqa: E501
        values.append(name)
    builder = "json_build_array" if dialect == "postgresql" else "json_array"
    return f"SELECT {builder}({', '.join(values)}) FROM {quote(table.name)}"


def _spec_json(spec: TableSpec) -> dict[str, Any]:
    return {"name": spec.name, "columns": [{"name": c.name, "type": c.kind} for c in spec.columns]}


async def _driver(connection: AsyncConnection) -> Any:
    """The driver's own connection (asyncpg's, aiosqlite's) under `connection`."""
    return (await connection.get_raw_connection()).driver_connection


def _snapshot_engine(url: str) -> AsyncEngine:
    engine = create_engine(url, poolclass=NullPool)
    if is_sqlite(url):
        _explicit_transactions(engine, "BEGIN")
    return engine


def _explicit_transactions(engine: AsyncEngine, begin: str, *pragmas: str) -> None:
    """SQLite's Python driver opens transactions only before writes, and never for
    DDL; these connections open one themselves, so reads share one snapshot and a
    restore's schema changes roll back with its rows."""

    def on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", on_begin)


async def write_backup(
    url: str, file: BinaryIO, *, codec: str = CODEC, chunk_rows: int = CHUNK_ROWS
) -> Summary:
    """Write a snapshot of the whole database at `url` to `file` (see the module's
    docstring for the format). Raises `BackupError`, or the driver's error."""
    engine = _snapshot_engine(url)
    try:
        async with engine.connect() as opened:
            connection = opened
            if opened.dialect.name == "postgresql":
                connection = await opened.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            async with connection.begin():
                return await _write(connection, url, file, codec, chunk_rows)
    finally:
        await engine.dispose()


async def _write(
    connection: AsyncConnection, url: str, file: BinaryIO, codec: str, chunk_rows: int
) -> Summary:
    tables = await connection.run_sync(_reflect)
    if "alembic_version" not in {t.name for t in tables}:
        raise BackupError("the database has no Lockdown schema: there is nothing to back up")
    versions = (await connection.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
    if len(versions) != 1:
        raise BackupError(f"the database is stamped with {len(versions)} schema revisions, not 1")
    revision = str(versions[0][0])
    dialect = connection.dialect.name
    quote = connection.dialect.identifier_preparer.quote
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    specs = _specs(tables)
    writer = _Writer(file, codec)
    writer.write(
        _line(
            {
                "format": FORMAT,
                "version": VERSION,
                "revision": revision,
                "created_at": created_at,
                "lockdown": _lockdown_version(),
                "source": dialect,
                "tables": [
                    {
                        "name": s.name,
                        "columns": [{"name": c.name, "type": c.kind} for c in s.columns],
                    }
                    for s in specs
                ],
            }
        )
    )
    driver = await _driver(connection)
    for table in tables:
        writer.write(_line({"table": table.name}))
        query = _json_select(table, dialect, quote)
        if dialect == "postgresql":
            writer.rows[table.name] = await _copy_out(driver, query, writer)
        else:
            writer.rows[table.name] = await _fetch_out(driver, query, writer, chunk_rows)
    digest = writer.finish()
    return Summary(revision, dict(writer.rows), digest, created_at, dialect)


async def _copy_out(driver: Any, query: str, writer: _Writer) -> int:
    """COPY's CSV output of one JSON column is the JSON itself, one row a line: JSON
    escapes every control character, so no value needs quoting (the quote and
    delimiter are control characters)."""
    count = 0

    async def sink(chunk: bytes) -> None:
        nonlocal count
        count += chunk.count(b"\n")
        writer.write(chunk)

    await driver.copy_from_query(query, output=sink, format="csv", delimiter="\x02", quote="\x01")
    return count


async def _fetch_out(driver: Any, query: str, writer: _Writer, chunk_rows: int) -> int:
    count = 0
    cursor = await driver.execute(query)
    try:
        while rows := await cursor.fetchmany(chunk_rows):
            count += len(rows)
            writer.write("".join([row[0] + "\n" for row in rows]).encode())
    finally:
        await cursor.close()
    return count


def _lockdown_version() -> str:
    try:
        return metadata.version("lockdown")
    except metadata.PackageNotFoundError:
        return "unknown"


async def backup_to_path(url: str, path: Path, *, codec: str = CODEC) -> Summary:
    """`write_backup` into `path`, through a temporary file renamed at the end: a
    failed or interrupted backup leaves no file that looks like one."""
    partial = path.with_name(path.name + ".partial")
    try:
        file = partial.open("wb")
    except OSError as error:
        raise BackupFileError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with file:
            summary = await write_backup(url, file, codec=codec)
            try:
                file.flush()
                os.fsync(file.fileno())
                file.close()
                partial.replace(path)
            except OSError as error:
                raise BackupFileError(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return summary


# --- checking and restoring --------------------------------------------------


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as error:
        raise BackupFileError(f"cannot read {path}: {error.strerror or error}") from None


def verify_file(file: BinaryIO) -> Summary:
    """Read a whole backup and check its structure, row counts and checksum.

    Raises `BackupCorrupt` (or `BackupError`) when it is not intact."""
    lines = _Lines(file)
    it = iter(lines)
    header = _header(it)
    rows: dict[str, int] = {}
    for spec, batch in _batches(lines, it, header["specs"]):
        rows[spec.name] = rows.get(spec.name, 0) + len(batch)
    return Summary(
        str(header["revision"]),
        rows,
        lines.sha256.hexdigest(),
        str(header.get("created_at", "")),
        str(header.get("source", "")),
    )


def verify_path(path: Path) -> Summary:
    with _open(path) as file:
        return verify_file(file)


def _known_revisions(url: str) -> tuple[set[str], str]:
    scripts = ScriptDirectory.from_config(migrate.alembic_config(url))
    return {r.revision for r in scripts.walk_revisions()}, migrate.head_revision(url)


def _restore_engine(url: str) -> AsyncEngine:
    engine = create_engine(url, poolclass=NullPool)
    if is_sqlite(url):
        # Foreign keys off, as for migrations (migrations/env.py): a batch migration
        # rebuilding `guilds` would otherwise cascade into every case. The load is
        # checked with PRAGMA foreign_key_check instead.
        _explicit_transactions(engine, "BEGIN IMMEDIATE", "PRAGMA foreign_keys=OFF")
    return engine


def _to_datetime(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _to_sqlite_datetime(value: str) -> str:
    """The text SQLAlchemy stores on SQLite: naive UTC with microseconds."""
    if len(value) == 32 and value[10] == "T" and value.endswith("+00:00"):
        return value[:10] + " " + value[11:26]
    moment = _to_datetime(value).astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", timespec="microseconds")


def _fixer(spec: TableSpec, dialect: str) -> Callable[[Batch], None] | None:
    """What a chunk of rows needs before the driver takes it: datetimes in the
    driver's form (the other portable values are the drivers' own)."""
    convert = _to_datetime if dialect == "postgresql" else _to_sqlite_datetime
    positions = [i for i, c in enumerate(spec.columns) if c.kind == "datetime"]
    if not positions:
        return None

    def fix(batch: Batch) -> None:
        for row in batch:
            for i in positions:
                value = row[i]
                if value is not None:
                    row[i] = convert(value)

    return fix


async def restore_file(
    url: str,
    file: BinaryIO,
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Load a backup into the database at `url`, all or nothing.

    Raises `BackupFromNewerLockdown`, `TargetNotEmpty` (unless `replace`),
    `BackupCorrupt` (nothing is kept), or the driver's error.
    """
    lines = _Lines(file)
    it = iter(lines)
    header = _header(it)
    revision = str(header["revision"])
    known, head = _known_revisions(url)
    if revision not in known:
        raise BackupFromNewerLockdown(
            f"this backup was made by a newer Lockdown (schema revision {revision}; this "
            f"version knows up to {head}): restore it with that version of Lockdown or a newer one"
        )
    specs: list[TableSpec] = header["specs"]
    engine = _restore_engine(url)
    try:
        async with engine.connect() as connection, connection.begin():
            await _clear(connection, specs, replace=replace)
            await connection.run_sync(_upgrade, url, revision)
            await connection.run_sync(_check_columns, specs, revision)
            rows = await _load(connection, lines, it, specs, progress or (lambda _: None))
            await _check_counts(connection, rows)
            if revision != head:
                if progress:
                    progress(f"upgrading the schema from {revision} to {head}")
                await connection.run_sync(_upgrade, url, head)
            await _settle(connection)
        return Summary(
            revision,
            rows,
            lines.sha256.hexdigest(),
            str(header.get("created_at", "")),
            str(header.get("source", "")),
            upgraded_to=head if revision != head else None,
        )
    finally:
        await engine.dispose()


async def restore_path(
    url: str,
    path: Path,
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    with _open(path) as file:
        return await restore_file(url, file, replace=replace, progress=progress)


async def _clear(connection: AsyncConnection, specs: list[TableSpec], *, replace: bool) -> None:
    """Drop the target's Lockdown tables, so it can be built at the backup's
    revision; refuse if they hold rows, unless told to replace them."""
    quote = connection.dialect.identifier_preparer.quote
    present = await connection.run_sync(lambda c: inspect(c).get_table_names())
    ours = {t.name for t in Base.metadata.sorted_tables} | {s.name for s in specs}
    ours.add("alembic_version")
    holding = []
    for name in sorted(present):
        if name == "alembic_version" or name.startswith("sqlite_"):
            continue
        found = await connection.exec_driver_sql(f"SELECT 1 FROM {quote(name)} LIMIT 1")
        if found.first() is not None:
            holding.append(name)
    if holding and not replace:
        raise TargetNotEmpty(
            f"the database already holds data (in {', '.join(holding)}): restore into an empty "
            "database, or pass --replace to overwrite it"
        )
    cascade = " CASCADE" if connection.dialect.name == "postgresql" else ""
    for name in sorted(set(present) & ours):
        await connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(name)}{cascade}")


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    """Alembic on this connection, inside its transaction (migrations/env.py runs
    on a connection it is given, and Alembic then opens no transaction of its own)."""
    config = migrate.alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _check_columns(connection: Connection, specs: list[TableSpec], revision: str) -> None:
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    for spec in specs:
        if spec.name not in present:
            raise BackupCorrupt(f"table {spec.name} is not part of schema revision {revision}")
        columns = {c["name"] for c in inspector.get_columns(spec.name)}
        unknown = [c.name for c in spec.columns if c.name not in columns]
        if unknown:
            raise BackupCorrupt(
                f"columns {', '.join(unknown)} of {spec.name} are not part of revision {revision}"
            )


async def _load(
    connection: AsyncConnection,
    lines: _Lines,
    it: Iterator[bytes],
    specs: list[TableSpec],
    progress: Callable[[str], None],
) -> dict[str, int]:
    dialect = connection.dialect.name
    driver = await _driver(connection)
    if dialect == "postgresql" and not driver.is_in_transaction():
        raise RuntimeError("the restore's rows must load inside its transaction")
    rows: dict[str, int] = {}
    insert: Callable[[Batch], Awaitable[None]] | None = None
    fix: Callable[[Batch], None] | None = None
    for spec, batch in _batches(lines, it, specs):
        if not batch:  # a table starts
            progress(f"restoring {spec.name}")
            rows[spec.name] = 0
            insert = _inserter(connection, driver, spec)
            fix = _fixer(spec, dialect)
            continue
        rows[spec.name] += len(batch)
        if fix is not None:
            fix(batch)
        if insert is not None:
            await insert(batch)
    return rows


def _inserter(
    connection: AsyncConnection, driver: Any, spec: TableSpec
) -> Callable[[Batch], Awaitable[None]]:
    dialect = connection.dialect.name
    quote = connection.dialect.identifier_preparer.quote
    names = [c.name for c in spec.columns]
    if spec.name == "alembic_version":  # written by the migrations; must agree with them

        async def check(batch: Batch) -> None:
            found = await connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            if [row[0] for row in batch] != list(found.scalars()):
                raise BackupCorrupt("the backup's alembic_version disagrees with its header")

        return check
    if dialect == "postgresql":

        async def copy(batch: Batch) -> None:
            await driver.copy_records_to_table(spec.name, records=batch, columns=names)

        return copy
    statement = (
        f"INSERT INTO {quote(spec.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join('?' * len(names))})"
    )

    async def insert(batch: Batch) -> None:
        await driver.executemany(statement, batch)

    return insert


async def _check_counts(connection: AsyncConnection, rows: dict[str, int]) -> None:
    """The target holds exactly the rows the backup had (read back, not assumed)."""
    quote = connection.dialect.identifier_preparer.quote
    for name, expected in rows.items():
        found = (await connection.exec_driver_sql(f"SELECT count(*) FROM {quote(name)}")).scalar()
        if found != expected:
            raise BackupError(f"{name} holds {found} rows after the restore, not {expected}")
    if connection.dialect.name == "sqlite":
        orphans = [
            tuple(row) for row in await connection.exec_driver_sql("PRAGMA foreign_key_check")
        ]
        if orphans:
            table, rowid, parent, *_ = orphans[0]
            raise BackupCorrupt(
                f"{len(orphans)} rows refer to rows the backup does not have "
                f"(first: {table} row {rowid}, in {parent})"
            )


async def _settle(connection: AsyncConnection) -> None:
    """Make the next id and the next case number follow the restored ones.

    SQLite takes the next rowid and the next case number from the rows
    themselves; PostgreSQL takes ids from sequences and case numbers from
    `guilds.last_case_number` (`db.repositories.cases`), which a backup from
    SQLite leaves at 0.
    """
    if connection.dialect.name != "postgresql":
        return
    quote = connection.dialect.identifier_preparer.quote
    for table in Base.metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or _kind(keys[0].type) != "int":
            continue
        name, key = quote(table.name), quote(keys[0].name)
        sequence = (
            await connection.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": name, "column": keys[0].name},
            )
        ).scalar()
        if sequence is not None:
            await connection.execute(
                text(
                    f"SELECT setval(:sequence, coalesce(max({key}), 1), max({key}) IS NOT NULL) "
                    f"FROM {name}"
                ),
                {"sequence": sequence},
            )
    await connection.exec_driver_sql(
        "UPDATE guilds SET last_case_number = numbered.last"
        " FROM (SELECT guild_id, max(number) AS last FROM cases GROUP BY guild_id) AS numbered"
        " WHERE guilds.id = numbered.guild_id AND guilds.last_case_number < numbered.last"
    )
