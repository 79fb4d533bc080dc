"""What happens outside Lockdown still lands in the case log: actions in Discord's
own client, members who dodge a mute by rejoining, and actions the bot applied
but died before recording."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.domain.lifecycle import Action
from db.engine import Database
from tests.e2e.conftest import Members
from tests.e2e.harness import BotProcess, cases_once
from tests.emulator import DiscordEmulator, StandardGuild


async def slash(
    emulator: DiscordEmulator, server: StandardGuild, name: str, options: dict[str, object]
) -> str:
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, name, options
    )
    return (await handle.wait_final(timeout=15)).content


@pytest.mark.usefixtures("bot")
class TestActionsInDiscordsClient:
    async def test_a_ban_and_an_unban(
        self,
        emulator: DiscordEmulator,
        server: StandardGuild,
        members: Members,
        bot_database: Database,
    ) -> None:
        target = members.take()
        await emulator.ui_ban(server.guild, server.admin, target, "seen in another server")
        [ban] = await cases_once(bot_database, server, target, 1)
        entry = emulator.audit_log(server.guild)[-1]
        assert (ban.type, ban.active, ban.moderator_id) == (Action.BAN, True, server.admin.id)
        assert (ban.reason, ban.audit_log_entry_id) == ("seen in another server", entry.id)

        await emulator.ui_unban(server.guild, server.admin, target, "appeal")
        unban, ban = await cases_once(bot_database, server, target, 2)
        assert (unban.type, unban.related_number) == (Action.UNBAN, ban.number)
        assert (ban.active, ban.revoked_by, ban.revoke_reason) == (False, server.admin.id, "appeal")

    async def test_an_unban_in_the_client_ends_a_temporary_ban(
        self,
        emulator: DiscordEmulator,
        server: StandardGuild,
        members: Members,
        bot_database: Database,
    ) -> None:
        target = members.take()
        assert (
            await slash(emulator, server, "ban", {"user": target, "duration": "1h"})
        ).startswith("Banned")
        await emulator.ui_unban(server.guild, server.owner, target)
        unban, ban = await cases_once(bot_database, server, target, 2)
        assert ban.type is Action.BAN
        assert not ban.active
        assert (unban.type, unban.moderator_id) == (Action.UNBAN, server.owner.id)

    async def test_kicks_and_timeouts(
        self,
        emulator: DiscordEmulator,
        server: StandardGuild,
        members: Members,
        bot_database: Database,
    ) -> None:
        kicked, timed_out = members.take(), members.take()
        await emulator.ui_kick(server.guild, server.admin, kicked, "noise")
        [kick] = await cases_once(bot_database, server, kicked, 1)
        assert (kick.type, kick.moderator_id, kick.reason) == (
            Action.KICK,
            server.admin.id,
            "noise",
        )

        until = datetime.now(UTC) + timedelta(hours=2)
        await emulator.ui_timeout(server.guild, server.admin, timed_out, until, "cool down")
        [mute] = await cases_once(bot_database, server, timed_out, 1)
        assert (mute.type, mute.active) == (Action.MUTE, True)
        assert mute.expires_at is not None
        assert abs(mute.expires_at - until) < timedelta(seconds=1)

        await emulator.ui_timeout(server.guild, server.admin, timed_out, None)
        unmute, mute = await cases_once(bot_database, server, timed_out, 2)
        assert (unmute.type, mute.active) == (Action.UNMUTE, False)

    async def test_the_bots_own_actions_are_recorded_once(
        self,
        emulator: DiscordEmulator,
        server: StandardGuild,
        members: Members,
        bot_database: Database,
    ) -> None:
        target = members.take()
        await slash(emulator, server, "kick", {"member": target})
        await asyncio.sleep(1)  # give a duplicate every chance to appear
        async with bot_database.autocommit() as uow:
            history = await uow.cases.history(server.guild.id, target.id)
        assert [c.type for c in history] == [Action.KICK]

    async def test_a_muted_member_who_rejoins_is_muted_again(
        self,
        emulator: DiscordEmulator,
        server: StandardGuild,
        members: Members,
    ) -> None:
        target = members.take()
        await slash(emulator, server, "mute", {"member": target, "duration": "3h"})
        await emulator.member_leave(server.guild, target)
        await emulator.member_join(server.guild, target)
        until = await emulator.wait_until(
            lambda: emulator.timeout_until(server.guild, target), timeout=10, what="the re-mute"
        )
        assert until > datetime.now(UTC) + timedelta(hours=2)


async def test_actions_taken_while_the_bot_was_down_are_recorded_at_start_up(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    lost, missed = server.members[0], server.members[1]
    bot = await BotProcess(emulator, own_database_url, DEV_GUILD_IDS=str(server.guild.id)).start()
    assert await bot.stop() == 0

    # The bot banned `lost` and died before recording it: only Discord knows.
    reason = f"{server.moderator.username} ({server.moderator.id}): raid"
    async with aiohttp.ClientSession() as http:
        response = await http.put(
            f"{emulator.api_base_url}/guilds/{server.guild.id}/bans/{lost.id}",
            headers={"Authorization": f"Bot {emulator.token}", "X-Audit-Log-Reason": reason},
        )
        assert response.status == 204
    # A moderator kicked `missed` in Discord's client while the bot was down.
    await emulator.ui_kick(server.guild, server.admin, missed, "spam")

    outputs = []
    for _ in range(2):  # the second start-up must not record anything twice
        bot = await BotProcess(
            emulator, own_database_url, DEV_GUILD_IDS=str(server.guild.id)
        ).start()
        [ban] = await cases_once(database, server, lost, 1)
        [kick] = await cases_once(database, server, missed, 1)
        assert await bot.stop() == 0
        outputs.append(bot.output)

    assert (ban.type, ban.moderator_id, ban.reason, ban.active) == (
        Action.BAN,
        server.moderator.id,
        "raid",
        True,
    )
    assert (kick.type, kick.moderator_id) == (Action.KICK, server.admin.id)
    assert "applied but never recorded" in outputs[0]
    assert "applied but never recorded" not in outputs[1]
