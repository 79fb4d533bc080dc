"""Logging in while Discord is away or failing: a clear line naming Discord and its URL,
then another try after a growing pause; never silence, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_discord_is_named_and_tried_again(
    own_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}/api/v10"
    bot = BotProcess(
        own_emulator, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", DISCORD_API_BASE_URL=nowhere
    )
    await bot.start(wait_ready=False)
    # The harness's patience (30 s) is the bound for the first line.
    await bot.wait_for_log(f"cannot reach Discord at {nowhere}: ", count=2)
    assert await bot.stop() == 0  # SIGTERM during the pause stops it cleanly

    failures = [line for line in bot.lines if "cannot reach Discord" in line]
    assert "Cannot connect to host 127.0.0.1" in failures[0]
    assert failures[0].endswith("logging in again in 1 s")
    assert failures[1].endswith("logging in again in 2 s")  # the pause grows
    assert "Traceback" not in bot.output
    assert "cannot use the database" not in bot.output
    assert own_emulator.token not in bot.output


@pytest.mark.parametrize(
    ("status", "times"),
    [
        (503, 1),  # discord.py raises at once
        (502, 5),  # discord.py tries five times itself, then raises
    ],
)
async def test_discord_failing_at_login_is_one_line_then_another_try(
    own_emulator: DiscordEmulator, tmp_path: Path, status: int, times: int
) -> None:
    own_emulator.world.build_standard_guild()
    own_emulator.fail_next("GET", "/users/@me", status, times=times)
    bot = BotProcess(own_emulator, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await bot.start()  # it comes up once Discord answers
    await bot.stop()

    failures = [line for line in bot.lines if "answered" in line]
    assert len(failures) == 1, bot.output
    assert f"Discord at {own_emulator.api_base_url} answered {status} " in failures[0]
    assert failures[0].endswith("logging in again in 1 s")
    assert len(own_emulator.calls("GET", "/users/@me")) == times + 1
    assert "Traceback" not in bot.output


async def test_discord_failing_after_login_ends_the_process_in_one_line(
    own_emulator: DiscordEmulator, tmp_path: Path
) -> None:
    """Past the login the bot's own set-up runs (the command sync): a Discord failure
    there is not retried in place but ends the process for its supervisor to restart."""
    server = own_emulator.world.build_standard_guild()
    own_emulator.fail_next("PUT", r"/applications/\d+/guilds/\d+/commands", 503, times=None)
    bot = BotProcess(
        own_emulator,
        f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        DEV_GUILD_IDS=str(server.guild.id),
    )
    await bot.start(wait_ready=False)
    assert await bot.exited() == 1

    failures = [line for line in bot.lines if "Discord at" in line]
    assert len(failures) == 1, bot.output
    assert (
        f"Discord at {own_emulator.api_base_url} failed while the bot was starting: 503 "
        in (failures[0])
    )
    assert "Traceback" not in bot.output
