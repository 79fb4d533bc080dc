"""The `lockdown` command and `python -m bot`, run as a maintainer runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url

from bot.domain.lifecycle import Action
from bot.domain.models import NewCase
from db import migrate
from db.engine import Database
from db.migrate import ROOT
from tests.helpers import record

LOCKDOWN = [sys.executable, "-m", "bot.cli"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_"))
    }
    environment.update(env)
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def test_missing_token_is_one_clear_line(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "bot"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lockdown: DISCORD_TOKEN is not set: put your bot token in the environment or in .env"
    ]
    assert "Traceback" not in result.stderr


def test_malformed_setting_is_one_clear_line(tmp_path: Path) -> None:
    result = run([*LOCKDOWN, "run"], tmp_path, DISCORD_TOKEN="t" * 20, SHARD_COUNT="many")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("lockdown: SHARD_COUNT is invalid")
    assert "t" * 20 not in result.stderr


def described(url: str) -> tuple[str, str]:
    """`url` as given to the CLI (with a password on PostgreSQL, which the test server
    ignores) and the line every command must start with: never the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return url, f"lockdown: using SQLite file {parsed.database}"
    given = parsed.set(password="pa55word").render_as_string(hide_password=False)
    where = f"{parsed.database} on {parsed.host}:{parsed.port} as {parsed.username}"
    return given, f"lockdown: using PostgreSQL database {where}"


def test_db_commands_upgrade_check_and_downgrade(empty_url: str, tmp_path: Path) -> None:
    head = migrate.head_revision(empty_url)
    given, using = described(empty_url)

    def lockdown_db(*args: str) -> subprocess.CompletedProcess[str]:
        result = run([*LOCKDOWN, "db", *args], tmp_path, DATABASE_URL=given)
        assert result.stderr.splitlines()[0] == using, result.stderr
        assert "pa55word" not in result.stdout + result.stderr
        return result

    upgraded = lockdown_db("upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert migrate.current_revisions(empty_url) == (head,)

    current = lockdown_db("current")
    assert f"{head} (head)" in current.stdout

    history = lockdown_db("history")
    assert head in history.stdout

    check = lockdown_db("check")
    assert check.returncode == 0, check.stderr
    assert "models and migrations agree" in check.stdout

    down = lockdown_db("downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert migrate.current_revisions(empty_url) == ()


def test_plain_alembic_works_from_the_repository_root(empty_url: str) -> None:
    result = run([sys.executable, "-m", "alembic", "upgrade", "head"], ROOT, DATABASE_URL=empty_url)
    assert result.returncode == 0, result.stderr
    assert migrate.current_revisions(empty_url) == (migrate.head_revision(empty_url),)


def test_unknown_revision_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = run([*LOCKDOWN, "db", "downgrade", "nonsense"], tmp_path, DATABASE_URL=url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("lockdown: ")
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_bot_refuses_a_postgres_database_behind_head(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    empty_url = empty_postgres_url
    given, using = described(empty_url)
    result = run([*LOCKDOWN, "run"], tmp_path, DATABASE_URL=given, DISCORD_TOKEN="t" * 30)
    assert result.returncode == 2
    # The bot logs which database it uses, before anything else it does.
    assert f"bot.runner: {using.removeprefix('lockdown: ')}" in result.stderr.splitlines()[0]
    assert "pa55word" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "lockdown: the database schema is not at the newest migration "
        f"({migrate.head_revision(empty_url)}): run `lockdown db upgrade` "
        "(or `alembic upgrade head`) first"
    )
    assert migrate.current_revisions(empty_url) == ()


def test_sqlite_upgrades_itself_unless_told_not_to(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'auto.db'}"
    with pytest.raises(migrate.SchemaBehind, match="lockdown db upgrade"):
        migrate.ensure_current(url, auto_migrate=False)
    assert migrate.current_revisions(url) == ()

    migrate.ensure_current(url, auto_migrate=True)
    assert migrate.current_revisions(url) == (migrate.head_revision(url),)


@pytest.mark.parametrize(
    ("url", "described", "command"),
    [
        ("postgresql://postgres:pa55word@127.0.0.1:9/nowhere",
         "PostgreSQL database nowhere on 127.0.0.1:9 as postgres", ["db", "upgrade"]),
        ("sqlite:////nonexistent-dir/x.db", "SQLite file /nonexistent-dir/x.db",
         ["data", "export", "--guild", "1"]),
    ],
)  # fmt: skip
def test_an_unreachable_database_is_one_clear_line(
    tmp_path: Path, url: str, described: str, command: list[str]
) -> None:
    result = run([*LOCKDOWN, *command], tmp_path, DATABASE_URL=url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0] == f"lockdown: using {described}"
    assert lines[1].startswith(f"lockdown: cannot use the database in DATABASE_URL ({described}): ")
    assert "pa55word" not in result.stderr


def test_current_against_a_missing_sqlite_file_says_so_and_creates_nothing(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "typo.db"
    for command in (["current"], ["downgrade", "-1"]):
        result = run([*LOCKDOWN, "db", *command], tmp_path, DATABASE_URL=f"sqlite:///{missing}")
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"lockdown: using SQLite file {missing}",
            f"lockdown: the SQLite file {missing} does not exist: "
            "check DATABASE_URL, or create it with `lockdown db upgrade`",
        ]
    assert list(tmp_path.iterdir()) == []


def test_migrations_need_only_the_database_url(tmp_path: Path) -> None:
    """A bad unrelated setting stops neither `lockdown db` nor bare `alembic`."""
    bad = {"SHARD_IDS": "0,0", "LOG_FORMAT": "xml", "COMMAND_LIMIT": "none"}
    by_lockdown = f"sqlite+aiosqlite:///{tmp_path / 'lockdown.db'}"
    result = run([*LOCKDOWN, "db", "upgrade"], tmp_path, DATABASE_URL=by_lockdown, **bad)
    assert result.returncode == 0, result.stderr
    by_alembic = f"sqlite+aiosqlite:///{tmp_path / 'alembic.db'}"
    result = run([sys.executable, "-m", "alembic", "upgrade", "head"], ROOT,
                 DATABASE_URL=by_alembic, **bad)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for url in (by_lockdown, by_alembic):
        assert migrate.current_revisions(url) == (migrate.head_revision(url),)
    # The rest of the CLI still refuses the bad settings.
    refused = run([*LOCKDOWN, "data", "export", "--guild", "1"], tmp_path, **bad)
    assert refused.returncode == 2
    assert refused.stderr.startswith("lockdown: SHARD_IDS is invalid")


def test_bare_alembic_says_a_bad_database_url_in_one_line(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "alembic", "upgrade", "head"], ROOT,
                 DATABASE_URL="mysql://nope")  # fmt: skip
    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip() == (
        "FAILED: DATABASE_URL is invalid: must be a postgresql:// or sqlite:// URL"
    )


def test_version_comes_from_the_package_metadata(tmp_path: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result = run([*LOCKDOWN, "--version"], tmp_path, SHARD_IDS="not even read")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"lockdown {project['version']}\n"


async def test_data_export_and_purge(empty_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_url)
    database = Database(empty_url)
    now = datetime.now(UTC)
    async with database.transaction() as uow:
        await uow.guilds.record_join(42, "exported", now=now)
        await uow.settings.set(42, "appeal_text", "mail us", actor_id=1, now=now)
        await uow.guilds.record_leave(42, now=now)  # the bot left; a maintainer erases it all
    await record(database, 42, NewCase(Action.NOTE, 7, 1, now, reason="hello"))
    await database.dispose()
    given, using = described(empty_url)

    unwritable = tmp_path / "no-such-directory" / "guild.jsonl"
    failed = await arun([*LOCKDOWN, "data", "export", "--guild", "42", "--output", str(unwritable)],
                        tmp_path, DATABASE_URL=given)  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        using,
        f"lockdown: cannot write {unwritable}: No such file or directory",
    ]

    out = tmp_path / "guild.jsonl"
    exported = await arun([*LOCKDOWN, "data", "export", "--guild", "42", "--output", str(out)],
                          tmp_path, DATABASE_URL=given)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.splitlines()[0] == using
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["kind"] for r in lines] == ["guild", "setting", "case"]
    assert lines[2]["reason"] == "hello"

    unconfirmed = await arun([*LOCKDOWN, "data", "purge", "--guild", "42"], tmp_path,
                             DATABASE_URL=empty_url)  # fmt: skip
    assert unconfirmed.returncode == 2
    assert "pass --yes" in unconfirmed.stderr
    # Redis away: the purge still happens, and the warnings blame Redis, not the database.
    purged = await arun([*LOCKDOWN, "data", "purge", "--guild", "42", "--yes"], tmp_path,
                        DATABASE_URL=given, REDIS_URL="redis://127.0.0.1:9/0")  # fmt: skip
    assert purged.returncode == 0, purged.stderr
    assert purged.stderr.splitlines()[0] == using
    assert "Redis unreachable (Error 111 connecting to 127.0.0.1:9." in purged.stderr
    assert "cannot use the database" not in purged.stderr
    assert "pa55word" not in purged.stderr
    again = await arun([*LOCKDOWN, "data", "export", "--guild", "42"], tmp_path,
                       DATABASE_URL=empty_url)  # fmt: skip
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1] == "lockdown: no data is kept for guild 42"


async def arun(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run, args, cwd, **env)


def test_a_database_from_a_newer_lockdown_says_so(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
    migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "newer.db") as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0099'")
    result = run([*LOCKDOWN, "run"], tmp_path, DATABASE_URL=url, DISCORD_TOKEN="t" * 30)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("lockdown: the database was migrated by a newer Lockdown (revision 0099")
    assert "run `lockdown db upgrade`" not in last
