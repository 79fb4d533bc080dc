"""Whole-database backups: exact round trips across backends, refusals, older and
newer schema revisions, damaged files, and one snapshot while writes go on."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from bot.domain.lifecycle import Action
from bot.domain.models import NewCase
from db import backup, migrate
from db.engine import Database
from tests.conftest import PostgresServer, new_snowflake
from tests.db.backup_data import (
    AWKWARD,
    BIGGEST,
    NOW,
    dump,
    expected_after_move,
    header_of,
    lines_of,
    populate,
    rebuilt,
    tables_in,
)

pg = pytest.mark.postgres
ROUTES = [
    pytest.param(("sqlite", "sqlite"), id="sqlite-to-sqlite"),
    pytest.param(("sqlite", "postgres"), id="sqlite-to-postgres", marks=pg),
    pytest.param(("postgres", "sqlite"), id="postgres-to-sqlite", marks=pg),
    pytest.param(("postgres", "postgres"), id="postgres-to-postgres", marks=pg),
]
#: Cases `populate` records per guild: every action in every state.
CASES_PER_GUILD = len(Action) * 4


class Databases:
    """New databases of either backend for one test."""

    def __init__(self, postgres: PostgresServer, directory: Path) -> None:
        self._postgres = postgres
        self._directory = directory
        self._made = 0

    async def empty(self, backend: str) -> str:
        self._made += 1
        if backend == "postgres":
            return await self._postgres.create_database()
        return f"sqlite+aiosqlite:///{self._directory / f'db{self._made}.db'}"

    async def at(self, backend: str, revision: str = "head") -> str:
        url = await self.empty(backend)
        await asyncio.to_thread(migrate.upgrade, url, revision)
        return url


@pytest.fixture
def databases(postgres: PostgresServer, tmp_path: Path) -> Databases:
    return Databases(postgres, tmp_path)


async def revisions(url: str) -> tuple[str, ...]:
    return await asyncio.to_thread(migrate.current_revisions, url)


async def backup_of(url: str) -> bytes:
    out = io.BytesIO()
    await backup.write_backup(url, out)
    return out.getvalue()


async def restore(url: str, blob: bytes, **options: bool) -> backup.Summary:
    return await backup.restore_file(url, io.BytesIO(blob), **options)


@pytest.mark.parametrize("route", ROUTES)
async def test_every_row_arrives_exactly_and_numbering_continues(
    route: tuple[str, str], databases: Databases
) -> None:
    source_backend, target_backend = route
    source, target = await databases.at(source_backend), await databases.empty(target_backend)
    guilds = [BIGGEST, 1, new_snowflake()]
    await populate(source, guilds)
    before = await dump(source)

    blob = await backup_of(source)
    written = backup.verify_file(io.BytesIO(blob))
    assert written.rows["cases"] == len(before["cases"]) == CASES_PER_GUILD * len(guilds)
    assert written.rows == {name: len(rows) for name, rows in before.items()}
    restored = await restore(target, blob)

    assert (restored.rows, restored.sha256) == (written.rows, written.sha256)
    assert await revisions(target) == (migrate.head_revision(target),)
    assert await dump(target) == expected_after_move(before, target_backend)

    database = Database(target)
    try:
        async with database.autocommit() as uow:
            case = await uow.cases.create(guilds[0], NewCase(Action.WARN, 5, 7, NOW))
        async with database.transaction() as uow:
            change = await uow.changes.add(
                guilds[0], actor_id=1, action="a", entity="e", entity_id="1",
                before=None, after=None, now=NOW,
            )  # fmt: skip
            policy = await uow.policies.add(
                guilds[1], threshold=9, action=Action.KICK, duration_seconds=None,
                window_seconds=None, created_by=1, now=NOW,
            )  # fmt: skip
    finally:
        await database.dispose()
    assert case.number == CASES_PER_GUILD + 1
    assert change.id == max(row[0] for row in before["changes"]) + 1
    assert policy.id == max(row[0] for row in before["escalation_policies"]) + 1


async def test_values_travel_in_their_portable_form(databases: Databases) -> None:
    source = await databases.at("sqlite")
    await populate(source, [BIGGEST])
    blob = await backup_of(source)

    header = header_of(blob)
    assert header["format"] == "lockdown-backup"
    assert header["revision"] == migrate.head_revision(source)
    [cases] = [t for t in header["tables"] if t["name"] == "cases"]
    kinds = {c["name"]: c["type"] for c in cases["columns"]}
    assert (kinds["id"], kinds["dm_delivered"], kinds["created_at"]) == ("int", "bool", "datetime")
    tables = tables_in(blob)
    assert [t["name"] for t in header["tables"]] == list(tables)
    assert tables["guilds"][0][:3] == [BIGGEST, f"{AWKWARD} 0", "2026-11-22T12:30:15.123456+00:00"]
    flags = {row[1]: row[2] for row in tables["feature_flags"]}
    assert flags == {"antinuke": True, "automod": False}
    befores = sorted((row[6], row[7]) for row in tables["changes"] if row[4] == "case")
    assert befores == [("null", None)]  # JSON null is text; SQL NULL is null
    assert lines_of(blob)[-1].startswith(b'{"end":true')


async def test_a_database_that_holds_data_is_refused_unless_replaced(
    databases: Databases, fresh_backend: str
) -> None:
    source = await databases.at("sqlite")
    await populate(source, [1, 2])
    blob = await backup_of(source)
    target = await databases.at(fresh_backend)
    await populate(target, [3])
    before = await dump(target)

    with pytest.raises(backup.TargetNotEmpty, match="pass --replace"):
        await restore(target, blob)
    assert await dump(target) == before

    await restore(target, blob, replace=True)
    assert await dump(target) == expected_after_move(await dump(source), fresh_backend)


async def test_an_empty_database_at_head_is_a_valid_target(
    databases: Databases, fresh_backend: str
) -> None:
    source = await databases.at("sqlite")
    await populate(source, [1])
    target = await databases.at(fresh_backend)  # `lockdown db upgrade` first, as the README says
    await restore(target, await backup_of(source))
    assert len((await dump(target))["cases"]) == CASES_PER_GUILD


OLD = "0003"  # before case states (`active`) and the change log's new name (`audit_entries`)


@pytest.mark.parametrize(
    "route",
    [
        pytest.param(("sqlite", "postgres"), id="sqlite-to-postgres", marks=pg),
        pytest.param(("postgres", "sqlite"), id="postgres-to-sqlite", marks=pg),
    ],
)
async def test_an_older_backup_is_restored_at_its_revision_then_upgraded(
    route: tuple[str, str], databases: Databases
) -> None:
    source_backend, target_backend = route
    source, target = await databases.at(source_backend, OLD), await databases.empty(target_backend)
    database = Database(source)
    async with database.engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO guilds (id, name, joined_at, last_case_number)"
            " VALUES (42, 'old', '2026-01-02 03:04:05.000006', 2)"
        )
        for number, active in ((1, True), (2, False)):
            await connection.exec_driver_sql(
                "INSERT INTO cases (guild_id, number, type, target_id, moderator_id, created_at,"
                f" active) VALUES (42, {number}, 'ban', {number}, 7, '2026-01-02 03:04:05', "
                f"{'true' if active else 'false'})"
            )
        await connection.exec_driver_sql(
            "INSERT INTO audit_entries (guild_id, actor_id, action, entity, entity_id, created_at)"
            " VALUES (42, 7, 'config.set', 'setting', 'x', '2026-01-02 03:04:05')"
        )
    await database.dispose()

    blob = await backup_of(source)
    assert header_of(blob)["revision"] == OLD
    summary = await restore(target, blob)

    head = migrate.head_revision(target)
    assert summary.upgraded_to == head
    assert await revisions(target) == (head,)
    restored = Database(target)
    try:
        async with restored.autocommit() as uow:
            cases = await uow.cases.all(42)
            changes = await uow.changes.all(42)
            new = await uow.cases.create(42, NewCase(Action.WARN, 3, 7, NOW))
    finally:
        await restored.dispose()
    assert [(c.number, c.state.value) for c in cases] == [(1, "active"), (2, "closed")]
    assert cases[0].created_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert [c.action for c in changes] == ["config.set"]
    assert new.number == 3


async def test_a_backup_from_a_newer_lockdown_is_refused(databases: Databases) -> None:
    source = await databases.at("sqlite")
    lines = lines_of(await backup_of(source))
    header = json.loads(lines[0])
    header["revision"] = "0099"
    lines[0] = json.dumps(header).encode()
    version = lines.index(b'{"table":"alembic_version"}') + 1
    lines[version] = b'["0099"]'
    newer = rebuilt(lines)
    target = await databases.empty("sqlite")

    with pytest.raises(backup.BackupFromNewerLockdown) as refused:
        await restore(target, newer)
    assert str(refused.value).startswith(
        "this backup was made by a newer Lockdown (schema revision 0099; this version knows "
        f"up to {migrate.head_revision(target)}): restore it with that version"
    )
    assert not await asyncio.to_thread(Path(target.split("///", 1)[1]).exists)  # never opened


async def test_damage_of_every_kind_is_found(databases: Databases) -> None:
    source = await databases.at("sqlite")
    await populate(source, [1])
    blob = await backup_of(source)
    intact = backup.verify_file(io.BytesIO(blob))
    assert intact.rows["cases"] == CASES_PER_GUILD

    truncated = blob[: len(blob) * 2 // 3]
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x01
    lines = lines_of(blob)
    row = next(i for i, line in enumerate(lines) if line.startswith(b"[") and b"mute" in line)
    edited = list(lines)
    edited[row] = edited[row].replace(b"mute", b"kick", 1)
    miscounted = list(lines)
    footer = json.loads(miscounted[-1])
    footer["rows"]["cases"] += 1
    miscounted[-1] = json.dumps(footer).encode()
    dropped = lines[:row] + lines[row + 1 :]
    damaged = {
        "truncated": (truncated, "truncated|damaged"),
        "flipped": (bytes(flipped), "damaged|checksum"),
        "edited": (rebuilt(edited, recount=False), "checksum does not match"),
        "miscounted": (rebuilt(miscounted), "row counts differ from the footer's"),
        "a row dropped": (rebuilt(dropped), "row counts differ"),
        "not a backup": (b"hello world\n" * 10, "not a Lockdown backup"),
    }
    for name, (data, reason) in damaged.items():
        with pytest.raises(backup.BackupCorrupt, match=reason):
            backup.verify_file(io.BytesIO(data))
        target = await databases.empty("sqlite")
        with pytest.raises(backup.BackupCorrupt, match=reason):
            await restore(target, data)
        assert await revisions(target) == (), f"{name}: the restore left a schema"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pg)])
async def test_a_backup_is_one_snapshot_while_writes_go_on(
    backend: str, databases: Databases
) -> None:
    """A writer records cases, each with its change-log entry in the same
    transaction, before and during the backup: the backup holds whole pairs,
    and (PostgreSQL) each guild's counter agrees with its cases."""
    url = await databases.at(backend)
    guild = new_snowflake()
    database = Database(url)
    written = 0
    backed_up, under_way = asyncio.Event(), asyncio.Event()

    async def write_pairs() -> None:
        nonlocal written
        while not backed_up.is_set():
            async with database.transaction() as uow:
                case = await uow.cases.create(guild, NewCase(Action.NOTE, written, 7, NOW))
                await uow.changes.add(
                    guild, actor_id=7, action="case.create", entity="case",
                    entity_id=str(case.number), before=None, after=None, now=NOW,
                )  # fmt: skip
            written += 1
            if written == 20:
                under_way.set()
            await asyncio.sleep(0)

    try:
        async with database.transaction() as uow:
            await uow.guilds.record_join(guild, "busy", now=NOW)
        writer = asyncio.create_task(write_pairs())
        await under_way.wait()
        blob = await backup_of(url)
        backed_up.set()
        await writer
    finally:
        await database.dispose()

    tables = tables_in(blob)
    numbers = sorted(row[2] for row in tables["cases"])
    logged = sorted(int(row[5]) for row in tables["changes"])
    assert numbers == logged == list(range(1, len(numbers) + 1))
    assert len(numbers) >= 20
    if backend == "postgres":
        [counter] = [row[4] for row in tables["guilds"] if row[0] == guild]
        assert counter == len(numbers)
