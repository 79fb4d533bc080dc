"""Integers are bounded to what the database stores (Discord would send up to 2**53):
Discord refuses a value past the registered range, and the largest allowed value gets a
clear answer, never a traceback."""

from __future__ import annotations

import pytest

from tests.emulator import DiscordEmulator, StandardGuild

pytestmark = pytest.mark.usefixtures("bot", "clean_faults")

LARGEST = 2**31 - 1  # PostgreSQL's integer, the type of case numbers


@pytest.mark.parametrize(
    ("command", "subcommand", "options", "answer"),
    [
        ("case", "show", {"number": LARGEST}, f"case #{LARGEST} does not exist"),
        ("pardon", None, {"case": LARGEST}, f"case #{LARGEST} does not exist"),
        ("policy", "remove", {"id": LARGEST}, f"There is no policy #{LARGEST}"),
    ],
)
async def test_integers_are_bounded_to_what_the_database_stores(
    command: str,
    subcommand: str | None,
    options: dict[str, object],
    answer: str,
    emulator: DiscordEmulator,
    server: StandardGuild,
) -> None:
    name = next(iter(options))
    with pytest.raises(ValueError, match="is outside"):  # Discord enforces the range
        await emulator.send_slash_command(
            server.guild, server.general, server.admin, command, {name: LARGEST + 1},
            subcommand=subcommand,
        )  # fmt: skip
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.admin, command, options, subcommand=subcommand
    )
    reply = await handle.wait_final(timeout=15)
    assert answer in reply.content


async def test_a_threshold_past_the_ladders_top_is_refused_by_discord(
    emulator: DiscordEmulator, server: StandardGuild
) -> None:
    with pytest.raises(ValueError, match=r"outside \[1, 50\]"):
        await emulator.send_slash_command(
            server.guild, server.general, server.admin, "policy",
            {"threshold": 2**40, "action": "kick"}, subcommand="add",
        )  # fmt: skip
