"""Refusals that need a server set up differently from the shared one."""

from __future__ import annotations

from db.engine import Database
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator, Permission


async def test_missing_bot_permission_and_timeouts_on_administrators(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    emulator = own_emulator
    server = emulator.world.build_standard_guild()
    server.bot_role.permissions &= ~int(Permission.BAN_MEMBERS)  # Discord shows this at start
    ops = emulator.world.add_role(server.guild, "Ops", 1, Permission.ADMINISTRATOR)
    sysop = emulator.world.add_user("sysop")
    emulator.world.add_member(server.guild, sysop, [ops])
    bot = await BotProcess(emulator, own_database_url, DEV_GUILD_IDS=str(server.guild.id)).start()
    start = len(emulator.requests)

    banned = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "ban", {"user": server.members[0]}
    )
    assert (await banned.wait_final(timeout=10)).content == (
        "I need the Ban Members permission to ban members."
    )
    muted = await emulator.send_slash_command(
        server.guild, server.general, server.owner, "mute", {"member": sysop, "duration": "1h"}
    )
    assert (await muted.wait_final(timeout=10)).content.startswith(
        "Administrators can't be timed out"
    )
    touched = [r for r in emulator.requests[start:] if "/bans/" in r.path or "/members/" in r.path]
    assert [r.method for r in touched if r.method != "GET"] == []
    async with own_database.autocommit() as uow:
        assert await uow.cases.history(server.guild.id, server.members[0].id) == []
        assert await uow.cases.history(server.guild.id, sysop.id) == []
    assert await bot.stop() == 0
