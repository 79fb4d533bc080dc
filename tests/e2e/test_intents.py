"""Never half-done, through the real bot: what Discord refuses leaves a failed case and
no DM; text no database can store is refused before anything happens."""

from __future__ import annotations

import pytest

from bot.domain.lifecycle import Action, CaseState
from db.engine import Database
from tests.e2e.conftest import Members
from tests.e2e.harness import preset_guild
from tests.emulator import DiscordEmulator, StandardGuild

pytestmark = pytest.mark.usefixtures("bot", "clean_faults")


@pytest.fixture(scope="module", autouse=True)
async def no_antinuke_limit(
    bot_database_url: str, bot_database: Database, server: StandardGuild
) -> None:
    """Bans in bursts would trip the anti-nuke limit, which is tested on its own."""
    await preset_guild(bot_database_url, bot_database, server, antinuke_actions=1000)


async def test_a_ban_discord_refuses_takes_its_dm_back_and_keeps_a_failed_case(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database, members: Members
) -> None:
    target = members.take()
    emulator.fail_next("PUT", r".*/bans/\d+", 403, 50013, "Missing Permissions")
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "ban", {"user": target, "reason": "spam"}
    )
    reply = await handle.wait_final(timeout=15)
    assert reply.content.startswith("Discord refused to ban them"), reply.content
    assert target.id not in emulator.bans(server.guild)
    assert emulator.dms_to(target) == []  # "You have been banned" was taken back
    async with bot_database.autocommit() as uow:
        cases = await uow.cases.history(server.guild.id, target.id, include_failed=True)
        shown = await uow.cases.history(server.guild.id, target.id)
    assert [(c.type, c.state) for c in cases] == [(Action.BAN, CaseState.FAILED)]
    assert shown == []


@pytest.mark.parametrize("text", ["nul \x00 here", "bell \x07", "lone \ud800 half"])
async def test_text_no_database_can_store_is_refused_before_anything(
    text: str,
    emulator: DiscordEmulator,
    server: StandardGuild,
    bot_database: Database,
    members: Members,
) -> None:
    target = members.take()
    start = len(emulator.requests)
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "ban", {"user": target, "reason": text}
    )
    reply = await handle.wait_final(timeout=15)
    assert "control character" in reply.content
    moderation = [r for r in emulator.requests[start:] if "/bans/" in r.path]
    assert moderation == []
    assert emulator.dms_to(target) == []
    async with bot_database.autocommit() as uow:
        assert await uow.cases.history(server.guild.id, target.id, include_failed=True) == []
