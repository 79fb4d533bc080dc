"""A write made by another process reaches a running bot's cache.

The maintainer's `lockdown data purge` is such a process: it deletes a guild's
settings while the bot holds them in its in-process cache. With Redis, the
purge refreshes the shared cache and tells every bot process, so the next
command already runs on the defaults.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from redis.asyncio import Redis

from db.engine import Database
from db.migrate import ROOT
from tests.conftest import REDIS_URL
from tests.e2e.harness import BotProcess, cases_once
from tests.emulator import DiscordEmulator, Message, StandardGuild, User


async def command(
    emulator: DiscordEmulator, server: StandardGuild, by: User, name: str,
    options: dict[str, object], subcommand: str | None = None,
) -> Message:  # fmt: skip
    handle = await emulator.send_slash_command(
        server.guild, server.general, by, name, options, subcommand=subcommand
    )
    return await handle.wait_final(timeout=10)


async def purge(database_url: str, guild_id: int) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    environment.update(DATABASE_URL=database_url, REDIS_URL=REDIS_URL, PYTHONPATH=str(ROOT))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "data", "purge", "--guild", str(guild_id), "--yes",
        env=environment, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0, output
    return output.decode()


@pytest.mark.xdist_group("bots-on-shared-redis")  # see ON_SHARED_REDIS in test_processes
@pytest.mark.parametrize("fresh_backend", ["sqlite", "postgres"], indirect=True)
async def test_a_purge_by_the_cli_is_seen_by_the_running_bots_next_command(
    own_emulator: DiscordEmulator,
    own_database_url: str,
    own_database: Database,
    redis_client: Redis,
) -> None:
    server = own_emulator.world.build_standard_guild(regular_members=2)
    quiet, told = server.members
    bot = await BotProcess(
        own_emulator, own_database_url, DEV_GUILD_IDS=str(server.guild.id), REDIS_URL=REDIS_URL
    ).start()
    try:
        await command(
            own_emulator, server, server.admin, "config",
            {"action": "kick", "enabled": False}, subcommand="dm-notify",
        )  # fmt: skip
        await command(own_emulator, server, server.moderator, "kick", {"member": quiet})
        assert own_emulator.dms_to(quiet) == []  # the bot now holds "no DM on kick"

        assert f"purged guild {server.guild.id}" in await purge(own_database_url, server.guild.id)

        reply = await command(own_emulator, server, server.moderator, "kick", {"member": told})
        assert reply.content.endswith("DM delivered"), reply.content
        assert len(own_emulator.dms_to(told)) == 1  # the default again: the cache heard
        [case] = await cases_once(own_database, server, told, 1)
        assert case.type.value == "kick"  # recorded even though the guild's rows were purged
    finally:
        code = await bot.stop()
    assert code == 0, bot.output
    assert "Traceback" not in bot.output, bot.output
