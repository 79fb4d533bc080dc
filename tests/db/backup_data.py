"""A populated database, every table of it read back, and backups taken apart:
what the backup tests share."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import zstandard
from sqlalchemy import JSON, Text, cast, insert, null, select, text

from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import NewCase
from db.engine import Database
from db.models import (
    Base,
    BotStateRow,
    ChangeRow,
    EscalationPolicyRow,
    FeatureFlagRow,
    MemberLockRow,
    MemberRow,
    SettingRow,
    UserRow,
    table_of,
)

BIGGEST = 2**63 - 1
#: Text no backend may bend: quotes, backslashes, control characters, astral emoji.
AWKWARD = 'Ünïcödé "quoted" \\back\\ \n\t\x01 line ✨ 😀 \U0001d518 日本語'
NOW = datetime(2026, 11, 22, 12, 30, 15, 123456, tzinfo=UTC)
ROUND = datetime(2026, 11, 22, 12, 30, 0, tzinfo=UTC)  # no microseconds


async def populate(url: str, guilds: list[int], now: datetime = NOW) -> None:
    """Several guilds, each with cases of every type in every state, pending
    expiries, change-log entries (JSON null and SQL NULL alike), settings,
    policies, features, members, a member lock; users and bot state besides.

    Every time is `now` or a day after it, or `now` on the second (no
    microseconds); a running bot finds nothing due for a day.
    """
    round_ = now.replace(microsecond=0)
    database = Database(url)
    try:
        async with database.transaction() as uow:
            for index, guild in enumerate(guilds):
                await uow.guilds.record_join(guild, f"{AWKWARD} {index}", now=now)
            await uow.guilds.record_leave(guilds[-1], now=round_)
            await uow.guilds.set_audit_cursor(guilds[0], BIGGEST)
        for guild in guilds:
            target = 1_000
            for action in Action:
                for state in CaseState:
                    target += 1
                    new = NewCase(
                        action,
                        target_id=BIGGEST - target,
                        moderator_id=7,
                        created_at=now,
                        reason=AWKWARD if target % 2 else None,
                        expires_at=now + timedelta(days=1) if action is Action.BAN else None,
                        state=state,
                        dm_delivered=(None, True, False)[target % 3],
                        audit_log_entry_id=target if target % 5 == 0 else None,
                        renew_at=round_ + timedelta(days=1) if action is Action.MUTE else None,
                        dm_channel_id=BIGGEST if target % 4 == 0 else None,
                        dm_message_id=target if target % 4 == 0 else None,
                    )
                    async with database.autocommit() as uow:
                        await uow.cases.create(guild, new)
        async with database.engine.begin() as connection:
            await connection.execute(
                insert(table_of(ChangeRow)),
                [
                    {"guild_id": guild, "actor_id": BIGGEST, "action": "config.set",
                     "entity": "setting", "entity_id": AWKWARD[:60],
                     "before": {"value": None, "list": [1, "😀", 2.5, True]},
                     "after": {"value": AWKWARD}, "created_at": now}
                    for guild in guilds
                ],
            )  # fmt: skip
            await connection.execute(  # JSON null, and SQL NULL
                insert(table_of(ChangeRow)).values(
                    guild_id=guilds[0], actor_id=1, action="case.reason", entity="case",
                    entity_id="1", before=None, after=null(), created_at=round_,
                )
            )  # fmt: skip
            for guild in guilds:
                await connection.execute(
                    insert(table_of(SettingRow)),
                    [
                        {"guild_id": guild, "key": "appeal_text", "value": AWKWARD,
                         "updated_by": 1, "updated_at": now},
                        {"guild_id": guild, "key": "warn_expiry_days", "value": 30,
                         "updated_by": 1, "updated_at": round_},
                        {"guild_id": guild, "key": "moderator_roles", "value": [BIGGEST, 5],
                         "updated_by": 1, "updated_at": now},
                    ],
                )  # fmt: skip
                await connection.execute(
                    insert(table_of(EscalationPolicyRow)),
                    [
                        {"guild_id": guild, "threshold": 3, "action": "mute",
                         "duration_seconds": 3600, "window_seconds": None, "created_by": 1,
                         "created_at": now},
                        {"guild_id": guild, "threshold": 5, "action": "ban",
                         "duration_seconds": None, "window_seconds": 86400, "created_by": 1,
                         "created_at": round_},
                    ],
                )  # fmt: skip
                await connection.execute(
                    insert(table_of(FeatureFlagRow)),
                    [
                        {"guild_id": guild, "name": "antinuke", "enabled": True,
                         "updated_by": 1, "updated_at": now},
                        {"guild_id": guild, "name": "automod", "enabled": False,
                         "updated_by": 1, "updated_at": now},
                    ],
                )  # fmt: skip
                await connection.execute(
                    insert(table_of(MemberRow)),
                    [
                        {"guild_id": guild, "user_id": BIGGEST, "joined_at": now, "left_at": None},
                        {"guild_id": guild, "user_id": 5, "joined_at": None, "left_at": round_},
                    ],
                )
                await connection.execute(
                    insert(table_of(MemberLockRow)).values(
                        guild_id=guild, target_id=BIGGEST, owner=f"host:{guild}", expires_at=now
                    )
                )
            await connection.execute(
                insert(table_of(UserRow)),
                [{"id": BIGGEST, "name": AWKWARD[:100], "updated_at": now},
                 {"id": 1, "name": "mod", "updated_at": round_}],
            )  # fmt: skip
            await connection.execute(
                insert(table_of(BotStateRow)).values(
                    key="application", value=AWKWARD, updated_at=now
                )
            )
    finally:
        await database.dispose()


async def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in primary-key order, read through the models' types
    (aware datetimes, booleans); JSON columns as their stored text, so JSON
    null and SQL NULL stay apart."""
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            tables: dict[str, list[tuple[Any, ...]]] = {}
            for table in Base.metadata.sorted_tables:
                columns = [
                    cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c
                    for c in table.columns
                ]
                query = select(*columns).order_by(*table.primary_key.columns)
                tables[table.name] = [tuple(row) for row in await connection.execute(query)]
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            tables["alembic_version"] = [tuple(row) for row in version]
            return tables
    finally:
        await database.dispose()


def expected_after_move(rows: dict[str, list[tuple[Any, ...]]], target: str) -> dict[str, Any]:
    """What a restore into `target` ("sqlite" or "postgres") must hold: the same
    rows, except that PostgreSQL's case-number counters catch up with the cases
    (a SQLite database never moves them)."""
    if target != "postgres":
        return rows
    last: dict[int, int] = {}
    for case in rows["cases"]:
        last[case[1]] = max(last.get(case[1], 0), case[2])
    at = _column_index("guilds", "last_case_number")
    guilds = []
    for guild in rows["guilds"]:
        values = list(guild)
        values[at] = max(values[at], last.get(values[0], 0))
        guilds.append(tuple(values))
    return {**rows, "guilds": guilds}


def _column_index(table: str, column: str) -> int:
    return [c.name for c in Base.metadata.tables[table].columns].index(column)


# --- taking backups apart ------------------------------------------------------


def lines_of(blob: bytes) -> list[bytes]:
    """The uncompressed lines of a backup."""
    data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    return data.split(b"\n")[:-1]


def rebuilt(lines: list[bytes], *, recount: bool = True) -> bytes:
    """A backup from edited lines; with `recount` its footer is made to match them
    again (a well-formed backup of other content), else the footer stays."""
    body, footer = lines[:-1], json.loads(lines[-1])
    data = b"".join(line + b"\n" for line in body)
    if recount:
        footer["sha256"] = hashlib.sha256(data).hexdigest()
    blob = data + json.dumps(footer).encode() + b"\n"
    return zstandard.ZstdCompressor(level=1).compress(blob)


def header_of(blob: bytes) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(lines_of(blob)[0])
    return header


def tables_in(blob: bytes) -> dict[str, list[list[Any]]]:
    """Each table's rows as the backup holds them."""
    tables: dict[str, list[list[Any]]] = {}
    current = ""
    for line in lines_of(blob)[1:-1]:
        record = json.loads(line)
        if isinstance(record, dict):
            current = record["table"]
            tables[current] = []
        else:
            tables[current].append(record)
    return tables
