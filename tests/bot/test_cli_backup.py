"""`lockdown data backup|restore|verify`, run as a maintainer runs them, and a
restore killed half-way."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
from pathlib import Path

from db import backup, migrate
from db.engine import Database, describe
from tests.bot.test_cli import LOCKDOWN, arun
from tests.db.backup_data import dump, expected_after_move, lines_of, populate, rebuilt


def said(stream: str) -> list[str]:
    assert "Traceback" not in stream
    return stream.strip().splitlines()


def one_line(stream: str) -> str:
    lines = said(stream)
    assert len(lines) == 1, stream
    return lines[0]


def after_using(stream: str) -> str:
    """The one line after `lockdown: using <database>`."""
    using, line = said(stream)
    assert using.startswith("lockdown: using ")
    return line


async def test_backup_verify_and_restore_from_the_command_line(
    tmp_path: Path, empty_url: str, fresh_backend: str
) -> None:
    source = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    await asyncio.to_thread(migrate.upgrade, source)
    await populate(source, [41, 42])
    rows = await dump(source)
    total = sum(len(table) for table in rows.values())
    file = tmp_path / "lockdown.backup"

    backed_up = await arun([*LOCKDOWN, "data", "backup", "--output", str(file)], tmp_path,
                           DATABASE_URL=source)  # fmt: skip
    assert backed_up.returncode == 0, backed_up.stderr
    head = migrate.head_revision(source)
    assert said(backed_up.stderr) == [
        f"lockdown: using {describe(source)}",
        f"backed up revision {head}: {total:,} rows in {len(rows)} tables to {file}",
    ]
    kept = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.glob("lockdown.*")))
    assert kept == ["lockdown.backup"]  # the partial file was renamed

    verified = await arun([*LOCKDOWN, "data", "verify", str(file)], tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert one_line(verified.stdout).startswith(f"{file}: intact: revision {head}, ")
    assert f"{total:,} rows" in verified.stdout

    restored = await arun([*LOCKDOWN, "data", "restore", str(file)], tmp_path,
                          DATABASE_URL=empty_url)  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    steps = said(restored.stderr)
    assert steps[0] == f"lockdown: using {describe(empty_url)}"
    assert "restoring cases" in steps
    assert steps[-1] == f"restored {file} (revision {head}): {total:,} rows in {len(rows)} tables"
    assert await dump(empty_url) == expected_after_move(rows, fresh_backend)

    again = await arun([*LOCKDOWN, "data", "restore", str(file)], tmp_path,
                       DATABASE_URL=empty_url)  # fmt: skip
    assert again.returncode == 1
    refusal = after_using(again.stderr)
    assert refusal.startswith("lockdown: the database already holds data (in ")
    assert refusal.endswith("or pass --replace to overwrite it")
    # (--replace itself: tests/db/test_backup.py and the restore killed half-way below)


async def test_damaged_and_unusable_backups_are_one_line_each(tmp_path: Path) -> None:
    source = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    await asyncio.to_thread(migrate.upgrade, source)
    await populate(source, [41])
    blob = io.BytesIO()
    await backup.write_backup(source, blob)
    good = blob.getvalue()
    flipped = tmp_path / "flipped"  # (truncation and the rest: tests/db/test_backup.py)
    damaged = bytearray(good)
    damaged[len(good) // 3] ^= 0x40
    flipped.write_bytes(bytes(damaged))
    result = await arun([*LOCKDOWN, "data", "verify", str(flipped)], tmp_path)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith(f"lockdown: {flipped} is not an intact backup: ")

    lines = lines_of(good)
    header = json.loads(lines[0])
    header["revision"] = "0099"
    lines[0] = json.dumps(header).encode()
    newer = tmp_path / "newer"
    newer.write_bytes(rebuilt(lines))
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    refused = await arun([*LOCKDOWN, "data", "restore", str(newer)], tmp_path, DATABASE_URL=target)
    assert refused.returncode == 1
    assert after_using(refused.stderr).startswith(
        "lockdown: this backup was made by a newer Lockdown (schema revision 0099"
    )

    missing = await arun([*LOCKDOWN, "data", "verify", str(tmp_path / "nowhere")], tmp_path)
    assert missing.returncode == 2
    assert one_line(missing.stderr) == (
        f"lockdown: cannot read {tmp_path / 'nowhere'}: No such file or directory"
    )
    unwritable = await arun(
        [*LOCKDOWN, "data", "backup", "--output", str(tmp_path / "no" / "such" / "dir")],
        tmp_path, DATABASE_URL=source,
    )  # fmt: skip
    assert unwritable.returncode == 2
    assert after_using(unwritable.stderr).startswith("lockdown: cannot write ")


async def fill_cases(url: str, guild: int, count: int) -> None:
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO guilds (id, name, joined_at, last_case_number)"
            f" VALUES ({guild}, 'big', '2026-11-22 12:00:00.000000', 0)"
        )
        await connection.exec_driver_sql(
            f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count})"
            " INSERT INTO cases (guild_id, number, type, target_id, moderator_id, reason,"
            "                    created_at, state)"
            f" SELECT {guild}, n, 'warn', n, 7, 'reason number ' || n,"
            "        '2026-11-22 12:00:00.000000', 'closed' FROM seq"
        )
    await database.dispose()


async def test_a_restore_killed_half_way_leaves_the_target_as_it_was(
    tmp_path: Path, empty_url: str
) -> None:
    """The backup arrives through a pipe: the restore has replaced tables and
    loaded rows, and waits for the rest of the file, when it is killed."""
    source = f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"
    await asyncio.to_thread(migrate.upgrade, source)
    await fill_cases(source, 77, 30_000)
    blob = io.BytesIO()
    await backup.write_backup(source, blob)
    data = blob.getvalue()
    await asyncio.to_thread(migrate.upgrade, empty_url)
    await populate(empty_url, [5, 6])
    before = await dump(empty_url)

    pipe = tmp_path / "backup.pipe"
    os.mkfifo(pipe)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    environment.update(DATABASE_URL=empty_url, PYTHONPATH=str(migrate.ROOT))
    process = await asyncio.create_subprocess_exec(
        *LOCKDOWN, "data", "restore", str(pipe), "--replace",
        cwd=tmp_path, env=environment, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    writer = await asyncio.to_thread(pipe.open, "wb")
    try:
        await asyncio.to_thread(writer.write, data[: len(data) * 2 // 3])
        await asyncio.to_thread(writer.flush)
        seen: list[str] = []
        while "restoring cases" not in seen:
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, f"the restore ended early: {seen}"
            seen.append(line.decode().strip())
        assert "restoring guilds" in seen  # the old guilds are gone in its transaction
        process.send_signal(signal.SIGKILL)
        assert await process.wait() == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        with contextlib.suppress(BrokenPipeError):
            writer.close()

    assert await dump(empty_url) == before
