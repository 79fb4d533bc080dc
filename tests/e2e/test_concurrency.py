"""One member, one action at a time: ten /ban and ten /unban of one member at once end
with Discord and the case log agreeing, on both backends, through the real bot."""

from __future__ import annotations

import asyncio

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


DATABASE_WORDS = ("deadlock", "already has an active", "IntegrityError", "sqlite", "asyncpg")


async def test_bans_and_unbans_of_one_member_at_once_end_in_agreement(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database, members: Members
) -> None:
    target = members.take()
    emulator.rate_limits.enable()  # as Discord: nothing may be sent early into a 429
    emulator.rate_limits.override("bans", limit=5, per=1.0)
    for _ in range(3):
        handles = await asyncio.gather(
            *(
                emulator.send_slash_command(
                    server.guild, server.general, server.moderator, name, {"user": target}
                )
                for name in ["ban", "unban"] * 10
            )
        )
        replies = [await handle.wait_final(timeout=60) for handle in handles]
        for reply in replies:
            assert not any(word in reply.content for word in DATABASE_WORDS), reply.content
            assert "Something went wrong" not in reply.content
        async with bot_database.autocommit() as uow:
            active = await uow.cases.active(server.guild.id, target.id, Action.BAN)
            cases = await uow.cases.history(
                server.guild.id, target.id, limit=100, include_failed=True
            )
        banned_on_discord = target.id in emulator.bans(server.guild)
        assert (active is not None) == banned_on_discord, [
            (c.number, c.type, c.state) for c in cases
        ]
        assert all(c.state is not CaseState.PENDING for c in cases)
    assert emulator.rate_limits.hits == []
    emulator.rate_limits.restore_defaults()
    emulator.rate_limits.disable()
