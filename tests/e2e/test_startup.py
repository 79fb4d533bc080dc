"""The unmodified bot process against the emulator: start, sync, record, stop."""

from __future__ import annotations

import asyncio

from db import migrate
from db.engine import Database
from tests.e2e.conftest import Members
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator, StandardGuild

COMMANDS = {
    "ban", "massban", "unban", "softban", "kick", "mute", "unmute",
    "warn", "warnings", "pardon", "note", "case", "history", "config", "feature",
    "policy", "changes", "status",
}  # fmt: skip


async def test_bot_starts_syncs_to_the_dev_guild_and_records_its_guilds(
    emulator: DiscordEmulator,
    server: StandardGuild,
    bot: BotProcess,
    bot_database_url: str,
    bot_database: Database,
) -> None:
    current = await asyncio.to_thread(migrate.current_revisions, bot_database_url)
    assert current == (migrate.head_revision(bot_database_url),)

    syncs = emulator.calls("PUT", rf"/applications/\d+/guilds/{server.guild.id}/commands")
    assert len(syncs) == 1
    assert {command["name"] for command in syncs[0].json} == COMMANDS
    assert emulator.calls("PUT", r"/applications/\d+/commands$") == []  # not global

    async with bot_database.autocommit() as uow:
        guild = await uow.guilds.get(server.guild.id)
    assert guild is not None
    assert guild.name == server.guild.name
    assert "Traceback" not in bot.output


async def test_a_slash_command_round_trip(
    emulator: DiscordEmulator,
    server: StandardGuild,
    bot: BotProcess,
    bot_database: Database,
    members: Members,
) -> None:
    target = members.take()
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "warn",
        {"member": target, "reason": "posting @everyone spam"},
    )  # fmt: skip
    reply = await handle.wait_final(timeout=10)

    assert reply.content.startswith(f"Warned {target.username}")
    assert reply.ephemeral
    assert reply.allowed_mentions == {"parse": []}
    async with bot_database.autocommit() as uow:
        cases = await uow.cases.history(server.guild.id, target.id)
    assert [(c.number, c.type.value, c.reason, c.moderator_id) for c in cases] == [
        (1, "warn", "posting @everyone spam", server.moderator.id)
    ]
    dms = emulator.dms_to(target)
    assert len(dms) == 1
    assert "posting @everyone spam" in (dms[0].content or "")


async def test_a_restart_with_the_same_commands_does_not_sync_again(
    own_emulator: DiscordEmulator, own_database_url: str
) -> None:
    server = own_emulator.world.build_standard_guild()
    path = rf"/applications/\d+/guilds/{server.guild.id}/commands"
    for _ in range(2):
        bot = await BotProcess(
            own_emulator, own_database_url, DEV_GUILD_IDS=str(server.guild.id)
        ).start()
        assert await bot.stop() == 0
    assert len(own_emulator.calls("PUT", path)) == 1
    assert "commands unchanged" in bot.output
