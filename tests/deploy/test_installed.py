"""Lockdown as an operator installs it: a wheel built from this checkout, installed
with its own dependency resolution into a fresh virtualenv, and run from an
unrelated directory with the commands the image runs.

Until this test every test ran an editable install, so nothing caught that an
installed Lockdown could not find its migrations. Building and installing takes
about 40 s (a third the build, the rest pip resolving and installing the
dependencies, from its cache when warm), once per run: the tests here stay on one
pytest-xdist worker.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.settings import Settings
from db import migrate
from db.migrate import ROOT
from tests.conftest import BACKENDS, PostgresServer
from tests.deploy.files import compose, image_commands
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator

pytestmark = pytest.mark.xdist_group("installed-lockdown")

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
#: What must not leak from the test run into the installed Lockdown.
NOT_INHERITED = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"} | {
    name.upper() for name in Settings.model_fields
}


@dataclass(frozen=True)
class Installed:
    root: Path
    wheel: Path

    @property
    def bin(self) -> Path:
        return self.root / "venv" / "bin"

    def environment(self, **settings: str) -> dict[str, str]:
        """The test run's environment without the checkout's path, virtualenv or
        settings; the installed commands first on PATH, as the image has them."""
        environment = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        environment["PATH"] = f"{self.bin}{os.pathsep}{os.environ['PATH']}"
        return environment | settings

    def run(self, argv: list[str], cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=self.environment(**settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _check(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the wheel from a copy of the checkout's files (tracked, or new and not
    ignored: what a commit would hold), then install it into a new virtualenv."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():  # not a file deleted in the working tree
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--quiet"]
    _check([*pip, "wheel", "--no-deps", "--wheel-dir", str(root / "dist"), str(source)], root)
    (wheel,) = (root / "dist").glob("lockdown-*.whl")
    venv.create(root / "venv", with_pip=False)
    _check([*pip, "--python", str(root / "venv" / "bin" / "python"), "install", str(wheel)], root)
    return Installed(root, wheel)


def test_the_wheel_carries_the_code_and_the_migrations(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
    assert {name.split("/")[0] for name in names} == {
        "bot", "cogs", "db", f"lockdown-{VERSION}.dist-info"
    }  # fmt: skip
    shipped = {name.removeprefix("db/migrations/versions/") for name in names}
    assert {path.name for path in (ROOT / "migrations" / "versions").glob("*.py")} <= shipped
    assert {"db/migrations/env.py", "db/migrations/script.py.mako"} <= set(names)


def test_the_installed_command_is_the_wheels_own(installed: Installed, tmp_path: Path) -> None:
    assert shutil.which("lockdown", path=installed.environment()["PATH"]) == str(
        installed.bin / "lockdown"
    )
    imported = installed.run(
        ["python", "-c", "import bot, db.migrations; print(bot.__file__, db.migrations.__file__)"],
        tmp_path,
    )
    site_packages = installed.root / "venv" / "lib"
    assert all(Path(path).is_relative_to(site_packages) for path in imported.stdout.split())

    version = installed.run(["lockdown", "--version"], tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"lockdown {VERSION}\n"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_installed_bot_migrates_and_comes_up(
    installed: Installed, backend: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    """As the image runs it (compose's command, in a working directory of its own where
    the default SQLite file goes), against the Discord emulator."""
    workdir = tmp_path / "app"
    workdir.mkdir()
    settings: dict[str, str] = {}
    if backend == "postgres":
        url = await postgres.create_database()
        settings["DATABASE_URL"] = url.replace("postgresql+asyncpg://", "postgresql://")
        where = f"lockdown: using PostgreSQL database {url.rsplit('/', 1)[1]} on 127.0.0.1"
    else:
        where = f"lockdown: using SQLite file {workdir / 'lockdown.db'}"
    head = migrate.head_revision(str(settings.get("DATABASE_URL", "sqlite://")))

    def lockdown_db(command: str) -> subprocess.CompletedProcess[str]:
        result = installed.run(["lockdown", "db", command], workdir, **settings)
        assert result.stderr.startswith(where), result.stderr
        return result

    before = await asyncio.to_thread(lockdown_db, "current")
    assert f"{head} (head)" not in before.stdout
    if backend == "sqlite":
        assert before.returncode == 1
        assert "does not exist" in before.stderr
        assert list(workdir.iterdir()) == []  # and it did not create it

    migrating, running = image_commands()
    assert compose()["services"]["bot"]["command"][2] == (
        f"{' '.join(migrating)} && exec {' '.join(running)}"
    )
    async with DiscordEmulator() as emulator:
        server = emulator.world.build_standard_guild()
        bot = BotProcess(
            emulator,
            command=compose()["services"]["bot"]["command"],
            cwd=workdir,
            DEV_GUILD_IDS=str(server.guild.id),
            PATH=installed.environment()["PATH"],
            **settings,
        )
        try:
            await bot.start()
            target = server.members[0]
            handle = await emulator.send_slash_command(
                server.guild, server.general, server.moderator, "warn",
                {"member": target, "reason": "installed from a wheel"},
            )  # fmt: skip
            reply = await handle.wait_final(timeout=10)
        finally:
            await bot.stop()
    assert reply.content.startswith(f"Warned {target.username}")
    assert where in bot.output  # `lockdown db upgrade` said it first
    assert "Running upgrade" in bot.output
    assert "Traceback" not in bot.output

    after = await asyncio.to_thread(lockdown_db, "current")
    assert after.returncode == 0, after.stderr
    assert f"{head} (head)" in after.stdout
