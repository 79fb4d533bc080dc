"""Moving a live bot's database from SQLite to PostgreSQL and back: backup on
one, restore on the other, every row the same, and the bot carries on there (a
temporary ban pending across the move ends on time, case numbers continue)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.lifecycle import Action
from db import migrate
from db.engine import Database
from tests.bot.test_cli import LOCKDOWN, arun
from tests.conftest import PostgresServer, new_snowflake
from tests.db.backup_data import dump, expected_after_move, populate
from tests.e2e.harness import BotProcess
from tests.e2e.test_commands import modlog_post
from tests.e2e.test_timers import ban_case, temp_ban, unbanned_at
from tests.emulator import DiscordEmulator, StandardGuild

ON_TIME = timedelta(seconds=2)


async def url_for(backend: str, postgres: PostgresServer, path: Path) -> str:
    if backend == "postgres":
        return await postgres.create_database()
    return f"sqlite+aiosqlite:///{path}"


async def run_command(
    emulator: DiscordEmulator, server: StandardGuild, name: str, options: dict[str, object],
    *, subcommand: str | None = None, admin: bool = False,
) -> str:  # fmt: skip
    by = server.admin if admin else server.moderator
    handle = await emulator.send_slash_command(
        server.guild, server.general, by, name, options, subcommand=subcommand
    )
    reply = await handle.wait_final(timeout=15)
    return reply.content


@pytest.mark.parametrize(
    "route",
    [
        pytest.param(("sqlite", "postgres"), id="sqlite-to-postgres", marks=pytest.mark.postgres),
        pytest.param(("postgres", "sqlite"), id="postgres-to-sqlite", marks=pytest.mark.postgres),
    ],
)
async def test_a_moved_database_keeps_its_cases_timers_and_numbering(
    route: tuple[str, str], own_emulator: DiscordEmulator, postgres: PostgresServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    emulator = own_emulator
    source_backend, target_backend = route
    source = await url_for(source_backend, postgres, tmp_path / "source.db")
    target = await url_for(target_backend, postgres, tmp_path / "target.db")
    await asyncio.to_thread(migrate.upgrade, source)
    server = emulator.world.build_standard_guild(regular_members=5)
    banned, warned, muted, kicked, later = server.members[:5]

    bot = await BotProcess(emulator, source, DEV_GUILD_IDS=str(server.guild.id)).start()
    await run_command(emulator, server, "config", {"channel": server.mod_log},
                      subcommand="modlog", admin=True)  # fmt: skip
    await run_command(emulator, server, "policy", {"threshold": 3, "action": "kick"},
                      subcommand="add", admin=True)  # fmt: skip
    assert await run_command(emulator, server, "warn", {"member": warned, "reason": "spam ✨"})
    await run_command(emulator, server, "note", {"user": warned, "text": "watch them"})
    await run_command(emulator, server, "mute", {"member": muted, "duration": "2h"})
    await run_command(emulator, server, "kick", {"member": kicked})
    await temp_ban(emulator, server, banned, "20s")
    database = Database(source)
    try:
        pending = await ban_case(database, server, banned)
    finally:
        await database.dispose()
    assert await bot.stop() == 0
    # Rows of every kind and state the commands above did not make, in two more guilds.
    await populate(source, [new_snowflake(), new_snowflake()], now=datetime.now(UTC))
    before = await dump(source)

    file = tmp_path / "move.backup"
    backed_up = await arun([*LOCKDOWN, "data", "backup", "--output", str(file)], tmp_path,
                           DATABASE_URL=source)  # fmt: skip
    assert backed_up.returncode == 0, backed_up.stderr
    restored = await arun([*LOCKDOWN, "data", "restore", str(file)], tmp_path,
                          DATABASE_URL=target)  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert await dump(target) == expected_after_move(before, target_backend)
    assert pending.expires_at is not None
    assert datetime.now(UTC) < pending.expires_at, "the move took longer than the ban"

    bot = await BotProcess(emulator, target, DEV_GUILD_IDS=str(server.guild.id)).start()
    ready = datetime.now(UTC)
    try:
        lifted = await unbanned_at(emulator, server, banned, timeout=30)
        assert pending.expires_at <= lifted + timedelta(milliseconds=100)
        assert lifted - max(pending.expires_at, ready) < ON_TIME
        reply = await run_command(emulator, server, "warn", {"member": later, "reason": "after"})
        assert reply, "no reply to /warn after the move"
    finally:
        assert await bot.stop() == 0
    assert "Traceback" not in bot.output

    moved = Database(target)
    try:
        async with moved.autocommit() as uow:
            numbers = [c.number for c in await uow.cases.all(server.guild.id)]
            [warning] = await uow.cases.history(server.guild.id, later.id)
            [unban, ban] = await uow.cases.history(server.guild.id, banned.id)
    finally:
        await moved.dispose()
    moved_numbers = [row[2] for row in before["cases"] if row[1] == server.guild.id]
    assert numbers == list(range(1, len(numbers) + 1))  # gap-free across the move
    assert numbers[len(moved_numbers) :] == sorted([warning.number, unban.number])
    assert (unban.type, unban.related_number, ban.number) == (
        Action.UNBAN,
        ban.number,
        pending.number,
    )
    await modlog_post(emulator, server, unban.number)  # the configuration moved too
