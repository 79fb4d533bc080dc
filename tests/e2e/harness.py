"""Runs the real bot as a subprocess against the Discord emulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from bot.domain.models import Case
from db import migrate
from db.engine import Database
from db.migrate import ROOT
from tests.emulator import DiscordEmulator, StandardGuild, User


class BotProcess:
    """`python -m bot`, unmodified, pointed at the emulator through its settings.

    `module` runs another bot the same way (the latency benchmark's no-op floor bot);
    it must log "connected as" when ready and stop cleanly on SIGTERM. Both start
    through `tests.e2e.launcher`, which only shortens discord.py's back-off between
    its retries of a Discord server error (25 s in all otherwise).

    `command` runs an installed Lockdown instead (`[".../bin/lockdown", "run"]`), as
    is, in `cwd`, without the checkout on its path (tests/deploy).
    """

    #: Started and not yet stopped or killed: what a failed test left running.
    running: ClassVar[set[BotProcess]] = set()

    def __init__(
        self,
        emulator: DiscordEmulator,
        database_url: str | None = None,
        *,
        module: str = "bot",
        command: Sequence[str] | None = None,
        cwd: Path = ROOT,
        **settings: str,
    ) -> None:
        self.emulator = emulator
        self.module = module
        self.command = [sys.executable, "-m", "tests.e2e.launcher", module]
        self.cwd = cwd
        self.environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DISCORD_", "DATABASE_", "SHARD_", "DEV_GUILD", "REDIS_"))
        }
        self.environment.update(
            {
                "DISCORD_TOKEN": emulator.token,
                "DISCORD_API_BASE_URL": emulator.api_base_url,
                "DISCORD_GATEWAY_URL": emulator.gateway_url,
                "LOG_LEVEL": "INFO",
                # The emulator sends every guild at once; waiting 2 s for more is
                # discord.py's allowance for Discord's pace, not the bot's behaviour.
                "GUILD_READY_TIMEOUT_SECONDS": "0.2",
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if command is not None:
            self.command = list(command)
            del self.environment["PYTHONPATH"]
        if database_url is not None:
            self.environment["DATABASE_URL"] = database_url
        self.environment.update(settings)
        self.lines: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self, *, wait_ready: bool = True, timeout: float = 30.0) -> BotProcess:  # noqa: ASYNC109
        self._process = await asyncio.create_subprocess_exec(
            *self.command,
            cwd=self.cwd,
            env=self.environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        BotProcess.running.add(self)
        if wait_ready:
            await self.wait_for_log("connected as", timeout=timeout)
        return self

    async def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        async for raw in self._process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())
            self._changed.set()
        self._changed.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_for_log(self, text: str, *, timeout: float = 30.0, count: int = 1) -> None:  # noqa: ASYNC109
        async def seen() -> None:
            while sum(text in line for line in self.lines) < count:
                if self._process is not None and self._process.returncode is not None:
                    raise AssertionError(f"bot exited before logging {text!r}:\n{self.output}")
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(seen(), timeout)
        except TimeoutError:
            raise AssertionError(f"bot never logged {text!r}:\n{self.output}") from None

    async def exited(self, *, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """Wait for the bot to end by itself; its exit code."""
        assert self._process is not None
        try:
            code = await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"bot did not exit:\n{self.output}") from None
        BotProcess.running.discard(self)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

    async def stop(self, *, timeout: float = 15.0) -> int:  # noqa: ASYNC109
        """SIGTERM, as a supervisor would; kill only if it does not exit in time."""
        if self._process is None:
            return 0
        BotProcess.running.discard(self)
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), timeout)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        return self._process.returncode or 0

    async def kill(self) -> None:
        """Die at once, as a crash would: no cleanup."""
        BotProcess.running.discard(self)
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


async def cases_once(
    database: Database, server: StandardGuild, user: User, count: int
) -> list[Case]:
    """The user's cases (newest first) once there are `count`; the bot records them
    asynchronously after the gateway event."""
    found: list[Case] = []
    for _ in range(100):
        async with database.autocommit() as uow:
            found = await uow.cases.history(server.guild.id, user.id)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} cases for {user.username}, found {found}")


async def preset_guild(
    database_url: str, database: Database, server: StandardGuild, **settings: object
) -> None:
    """Before the bot starts: its database migrated, the guild known, and `settings`
    stored (for example `antinuke_actions=1000` for a module that bans a lot)."""
    await asyncio.to_thread(migrate.upgrade, database_url)
    now = datetime.now(UTC)
    async with database.transaction() as uow:
        await uow.guilds.record_join(server.guild.id, server.guild.name, now=now)
        for key, value in settings.items():
            await uow.settings.set(server.guild.id, key, value, actor_id=1, now=now)
