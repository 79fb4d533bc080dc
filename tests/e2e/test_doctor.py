"""`lockdown doctor` as an operator runs it: a subprocess against the emulator and
real databases, one line per check, exit 1 on any failure."""

from __future__ import annotations

import asyncio
import io
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from bot.cli import main
from db import migrate
from db.engine import Database
from db.migrate import ROOT
from tests.conftest import REDIS_URL
from tests.emulator import DiscordEmulator, Overwrite, Permission, StandardGuild
from tests.redis_server import free_port

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@dataclass
class Report:
    returncode: int
    lines: list[str]
    stderr: str

    def line(self, prefix: str) -> str:
        """The one line starting with `prefix` (a mark and a subject)."""
        found = [line for line in self.lines if line.startswith(prefix)]
        assert len(found) == 1, f"{prefix!r} in:\n" + "\n".join(self.lines)
        return found[0]

    def hint_after(self, prefix: str) -> str:
        index = self.lines.index(self.line(prefix))
        return self.lines[index + 1]

    def mark(self, subject: str) -> str:
        """The mark (✓, ✗ or -) of the one check of `subject`."""
        [mark] = [line[0] for line in self.lines if line[2:].startswith(f"{subject}: ")]
        return mark


async def doctor(
    tmp_path: Path, emulator: DiscordEmulator | None, database_url: str, **settings: str
) -> Report:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "DATABASE_", "REDIS_", "SHARD_", "AUTO_MIGRATE"))
    }
    environment.update(PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8", DATABASE_URL=database_url)
    if emulator is not None:
        environment.update(DISCORD_TOKEN=emulator.token, DISCORD_API_BASE_URL=emulator.api_base_url)
    environment.update(settings)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "doctor",
        cwd=tmp_path, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    report = Report(process.returncode, out.decode().splitlines(), err.decode())
    assert "Traceback" not in report.stderr, report.stderr
    return report


async def configure(url: str, guild_id: int, **values: Any) -> None:
    """Settings as `/config` stores them."""
    database = Database(url)
    try:
        async with database.transaction() as uow:
            await uow.guilds.record_join(guild_id, "guild", now=NOW)
            for key, value in values.items():
                await uow.settings.set(guild_id, key, value, actor_id=1, now=NOW)
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file, for checks that do not depend on the backend."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('doctor') / 'lockdown.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    return url


def on_top(emulator: DiscordEmulator, server: StandardGuild) -> None:
    """Lockdown's role above every other, as a careful admin sets it up."""
    server.bot_role.position = max(r.position for r in server.guild.roles.values()) + 1


def with_password(url: str) -> tuple[str, str | None]:
    """PostgreSQL's URL with a password in it (trust auth ignores it), to prove the
    doctor never prints one; SQLite has none."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return url, None
    if parsed.password is None:
        parsed = parsed.set(password="doctor-must-not-print-this")
    return parsed.render_as_string(hide_password=False), str(parsed.password)


async def test_a_healthy_deployment_is_all_green(
    own_emulator: DiscordEmulator, own_database_url: str, tmp_path: Path
) -> None:
    emulator = own_emulator
    first = emulator.world.build_standard_guild("First Server")
    second = emulator.world.build_standard_guild("Second Server")
    for server in (first, second):
        on_top(emulator, server)
    muted = emulator.world.add_role(first.guild, "Muted", 1)
    await configure(
        own_database_url,
        first.guild.id,
        modlog_channel_id=first.mod_log.id,
        mute_role_id=muted.id,
    )
    # Discord's rate limits, and one 429 on the way: waited out (`retry_after`), asked again.
    emulator.rate_limits.enable()
    emulator.fail_next("GET", rf"/guilds/{second.guild.id}", 429, retry_after=0.1)
    url, password = with_password(own_database_url)

    report = await doctor(tmp_path, emulator, url, REDIS_URL=REDIS_URL)

    assert report.returncode == 0, "\n".join(report.lines)
    assert report.lines[-1] == "all checks passed"
    assert all(line.startswith("✓ ") for line in report.lines[:-1]), "\n".join(report.lines)
    shown = make_url(url).render_as_string(hide_password=True)
    assert report.line("✓ database:") == f"✓ database: {shown} answers"
    head = migrate.head_revision(url)
    assert report.line("✓ schema:") == f"✓ schema: at the newest migration ({head})"
    assert report.line("✓ redis:") == f"✓ redis: {REDIS_URL} answers PING"
    bot = emulator.world.bot
    assert report.line("✓ token:") == (
        f"✓ token: Discord accepts it: logged in as {bot.username} ({bot.id})"
    )
    assert report.line("✓ intents:") == (
        "✓ intents: Server Members Intent enabled for the application"
    )
    for server in (first, second):
        subject = f'✓ guild "{server.guild.name}" ({server.guild.id}): '
        assert f"{subject}has every permission its features need" in report.lines
        assert f"{subject}no role sits at or above Lockdown's top role (@Lockdown)" in report.lines
    assert report.line("✓ guilds:") == ("✓ guilds: checked 2 guilds, each with its configuration")
    if password is not None:
        assert password not in "\n".join(report.lines) + report.stderr

    # Bounded per guild: the guild, the bot's member, and the mod-log channel if set.
    for server, expected in ((first, 3), (second, 2)):
        reads = emulator.calls("GET", rf"/guilds/{server.guild.id}(/members/\d+)?")
        reads += emulator.calls("GET", rf"/channels/({server.mod_log.id}|{server.general.id})")
        answered = [r for r in reads if r.status != 429]
        assert len(answered) == expected, [(r.path, r.status) for r in reads]
    assert [r.status for r in emulator.calls("GET", rf"/guilds/{second.guild.id}")] == [429, 200]


async def test_each_problem_is_its_own_failed_line(tmp_path: Path, sqlite_url: str) -> None:
    """Redis configured but down, a disabled privileged intent, a missing permission,
    a mod-log channel the bot cannot post embeds in, and a role above the bot."""
    redis_down = f"redis://127.0.0.1:{free_port()}/0"
    async with DiscordEmulator(privileged_intents=0) as emulator:
        alpha = emulator.world.build_standard_guild("Alpha Server")
        on_top(emulator, alpha)
        alpha.bot_role.permissions &= ~Permission.BAN_MEMBERS
        beta = emulator.world.build_standard_guild("Beta Server")  # Admin sits above the bot
        no_embeds = Overwrite(beta.bot_role.id, 0, deny=int(Permission.EMBED_LINKS))
        beta.mod_log.overwrites.append(no_embeds)
        await configure(sqlite_url, beta.guild.id, modlog_channel_id=beta.mod_log.id)

        report = await doctor(tmp_path, emulator, sqlite_url, REDIS_URL=redis_down)
        assert emulator.internal_errors == []

    assert report.returncode == 1
    assert report.line("✗ redis:").startswith(f"✗ redis: {redis_down} does not answer: ")
    assert report.line("✗ intents:") == (
        "✗ intents: Server Members Intent is not enabled, and seeing members (re-applying "
        "a mute when a member rejoins, hierarchy checks on members) needs it"
    )
    assert "Privileged Gateway Intents" in report.hint_after("✗ intents:")
    a, b = (f'guild "{s.guild.name}" ({s.guild.id})' for s in (alpha, beta))
    assert report.line(f"✗ {a}:") == (
        f"✗ {a}: missing Ban Members (for /ban, /unban, /softban and /massban)"
    )
    assert report.hint_after(f"✗ {a}:") == (
        "  → grant what is missing to Lockdown's role in Server Settings → Roles"
    )
    assert report.line(f"✓ {a}:") == (
        f"✓ {a}: no role sits at or above Lockdown's top role (@Lockdown)"
    )
    beta_lines = [line for line in report.lines if line.startswith(f"✗ {b}:")]
    assert beta_lines == [f"✗ {b}: missing Embed Links in #mod-log (for the mod log)"]
    assert report.line(f"! {b}:") == (  # noted, not failed: admins often sit above bots
        f"! {b}: @Admin sits at or above Lockdown's top role (@Lockdown): "
        "members holding it cannot be moderated by Lockdown"
    )
    subjects = ("settings", "database", "schema", "token", "guilds")
    assert [report.mark(subject) for subject in subjects] == ["✓"] * len(subjects)
    assert report.lines[-1] == "4 checks failed"


async def test_a_bad_token_is_refused_and_never_printed(tmp_path: Path, sqlite_url: str) -> None:
    async with DiscordEmulator() as emulator:
        emulator.world.build_standard_guild()
        wrong = "MTIz.bad-token-the-doctor-must-not-print"
        report = await doctor(tmp_path, emulator, sqlite_url, DISCORD_TOKEN=wrong)

    assert report.returncode == 1
    assert report.line("✗ token:") == "✗ token: Discord rejected DISCORD_TOKEN (401 Unauthorized)"
    assert report.line("- intents:") == "- intents: not checked: the token check failed"
    assert report.line("- guilds:") == "- guilds: not checked: the token check failed"
    assert wrong not in "\n".join(report.lines) + report.stderr


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            "postgresql://postgres:hunter2@127.0.0.1:9/nowhere", id="postgres-down-discord-too"
        ),
        pytest.param("sqlite:///{tmp}/missing.db", id="sqlite-missing-file"),
    ],
)
async def test_an_unavailable_database_fails_and_guilds_are_judged_on_defaults(
    tmp_path: Path, url: str
) -> None:
    url = url.format(tmp=tmp_path)
    if "sqlite" in url:
        async with DiscordEmulator() as emulator:
            server = emulator.world.build_standard_guild()
            on_top(emulator, server)
            report = await doctor(tmp_path, emulator, url)
        assert report.line("✗ database:") == (
            f"✗ database: sqlite+aiosqlite:///{tmp_path}/missing.db: "
            f"the SQLite file {tmp_path}/missing.db does not exist"
        )
        assert not (tmp_path / "missing.db").exists()  # the doctor creates nothing
        assert report.line("✓ guilds:") == (
            "✓ guilds: checked 1 guild, against the default configuration "
            "(the database could not be read)"
        )
        assert report.lines[-1] == "1 check failed"
    else:  # and Discord unreachable too
        nowhere = f"http://127.0.0.1:{free_port()}/api/v10"
        report = await doctor(
            tmp_path, None, url, DISCORD_TOKEN="a.b.c", DISCORD_API_BASE_URL=nowhere
        )
        assert report.line("✗ database:").startswith(
            "✗ database: cannot use postgresql+asyncpg://postgres:***@127.0.0.1:9/nowhere: "
        )
        assert "hunter2" not in "\n".join(report.lines) + report.stderr
        unreachable = report.line("✗ token:")
        assert unreachable.startswith(f"✗ token: cannot reach Discord at {nowhere}: ")
        assert unreachable.count("cannot reach") == 1
        assert report.lines[-1] == "2 checks failed"
    assert report.returncode == 1
    assert report.line("- schema:") == "- schema: not checked: the database is unavailable"


@pytest.mark.postgres
async def test_an_outdated_schema_fails(empty_postgres_url: str, tmp_path: Path) -> None:
    """PostgreSQL is never migrated by the bot (SQLite with AUTO_MIGRATE=false neither:
    the same check)."""
    empty_url = empty_postgres_url
    first = migrate.first_revision(empty_url)
    await asyncio.to_thread(migrate.upgrade, empty_url, first)
    head = migrate.head_revision(empty_url)
    async with DiscordEmulator() as emulator:
        report = await doctor(tmp_path, emulator, empty_url)
    assert report.returncode == 1
    assert report.line("✗ schema:") == (f"✗ schema: at {first}; the newest migration is {head}")
    assert report.hint_after("✗ schema:") == (
        "  → run `lockdown db upgrade` (the bot does not start on an outdated schema)"
    )
    current = await asyncio.to_thread(migrate.current_revisions, empty_url)
    assert current == (first,)  # the doctor migrates nothing


async def test_sqlite_behind_is_fine_when_the_bot_upgrades_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    first = migrate.first_revision(url)
    await asyncio.to_thread(migrate.upgrade, url, first)
    async with DiscordEmulator() as emulator:
        report = await doctor(tmp_path, emulator, url)
    assert report.returncode == 0, "\n".join(report.lines)
    assert re.fullmatch(
        rf"✓ schema: at {first}; the bot upgrades this SQLite file to \w+ when it starts",
        report.line("✓ schema:"),
    )


def test_invalid_settings_are_a_failed_check_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process (nothing runs before the settings are read): the same `main`,
    on a UTF-8 terminal and on one that only takes ASCII."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHARD_COUNT", "many")
    assert main(["doctor"]) == 1
    utf8 = capsys.readouterr().out.splitlines()
    assert utf8[0].startswith("✗ settings: SHARD_COUNT is invalid: ")
    assert utf8[1] == "  → fix it in the environment or .env (see .env.example)"
    assert utf8[-1] == "1 check failed"

    written = io.BytesIO()
    ascii_terminal = io.TextIOWrapper(written, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_terminal)
    assert main(["doctor"]) == 1
    ascii_terminal.flush()
    plain = written.getvalue().decode("ascii").splitlines()
    assert plain[0] == utf8[0].replace("✗", "FAIL", 1)
    assert plain[1] == utf8[1].replace("→", "->")
