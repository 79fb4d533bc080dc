"""End-to-end fixtures: the emulator in this process, the real bot in another.

One emulator, guild and bot process per test module and backend: starting the
bot costs seconds, so tests in a module share it and act on different members.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from db import migrate
from db.engine import Database
from tests.conftest import BACKENDS, PostgresServer
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator, Overwrite, Permission, StandardGuild, User


@pytest.fixture(scope="session", autouse=True)
async def no_bot_outlives_the_run() -> AsyncIterator[None]:
    """A test that failed between starting a bot and stopping it leaves it running
    (holding database connections, on the shared Redis): end those at the end."""
    yield
    for process in list(BotProcess.running):
        await process.kill()


@pytest.fixture(scope="module", params=BACKENDS)
def e2e_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
async def emulator(e2e_backend: str) -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emu:
        yield emu
        assert emu.internal_errors == [], "the emulator itself failed"


@pytest.fixture(scope="module")
def server(emulator: DiscordEmulator) -> StandardGuild:
    built = emulator.world.build_standard_guild(regular_members=32)
    # A channel whose overwrites keep the bot from posting, as an admin might set up.
    no_posting = Overwrite(built.bot_role.id, 0, deny=int(Permission.SEND_MESSAGES))
    emulator.world.add_channel(built.guild, "read-only", overwrites=[no_posting])
    emulator.world.add_role(built.guild, "Muted", 1)  # for /config mute-role
    return built


@pytest.fixture(scope="module")
async def bot_database_url(
    e2e_backend: str, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """SQLite starts empty (the bot migrates it itself); PostgreSQL is migrated
    first, as a maintainer must."""
    if e2e_backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('bot') / 'bot.db'}"
    url = await postgres.create_database()
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture(scope="module")
async def bot_database(bot_database_url: str) -> AsyncIterator[Database]:
    database = Database(bot_database_url)
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
async def bot(
    emulator: DiscordEmulator, server: StandardGuild, bot_database_url: str
) -> AsyncIterator[BotProcess]:
    # The per-user command pace is tested on its own; these tests fire commands fast.
    process = BotProcess(
        emulator, bot_database_url, DEV_GUILD_IDS=str(server.guild.id), COMMAND_LIMIT="1000"
    )
    await process.start()
    yield process
    code = await process.stop()
    assert code == 0, process.output
    assert "Traceback" not in process.output, process.output


@pytest.fixture
def clean_faults(emulator: DiscordEmulator) -> Iterator[None]:
    yield
    emulator.clear_faults()


class Members:
    """Hands each test members nobody else has touched."""

    def __init__(self, server: StandardGuild) -> None:
        self._free = list(server.members)

    def take(self) -> User:
        return self._free.pop(0)


@pytest.fixture(scope="module")
def members(server: StandardGuild) -> Members:
    return Members(server)


@pytest.fixture
async def own_emulator() -> AsyncIterator[DiscordEmulator]:
    """An emulator for one test, for tests that start and stop bots themselves."""
    async with DiscordEmulator() as emu:
        yield emu
        assert emu.internal_errors == [], "the emulator itself failed"


@pytest.fixture
async def own_database_url(fresh_backend: str, postgres: PostgresServer, tmp_path: Path) -> str:
    if fresh_backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    else:
        url = await postgres.create_database()
    await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture
async def own_database(own_database_url: str) -> AsyncIterator[Database]:
    database = Database(own_database_url)
    yield database
    await database.dispose()
