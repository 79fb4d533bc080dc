"""Redis going away and coming back under a running bot: commands never wait on
it, the log says so once, and sharing resumes by itself."""

from __future__ import annotations

import asyncio

import pytest

from bot.infra.redis_client import Outage
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator, Message, StandardGuild, User
from tests.redis_server import PrivateRedis


async def warn(emulator: DiscordEmulator, server: StandardGuild, member: User) -> Message:
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "warn", {"member": member, "reason": "x"}
    )
    return await handle.wait_final(timeout=10)


async def bot_on(
    emulator: DiscordEmulator, database_url: str, server: StandardGuild, redis: PrivateRedis
) -> BotProcess:
    return await BotProcess(
        emulator, database_url, DEV_GUILD_IDS=str(server.guild.id), REDIS_URL=redis.url
    ).start()


@pytest.mark.parametrize("fresh_backend", ["sqlite"], indirect=True)
async def test_commands_work_through_a_redis_outage_and_sharing_resumes(
    own_emulator: DiscordEmulator, own_database_url: str, private_redis: PrivateRedis
) -> None:
    server = own_emulator.world.build_standard_guild(regular_members=4)
    private_redis.stop()  # the bot starts while Redis is away
    bot = await bot_on(own_emulator, own_database_url, server, private_redis)
    try:
        first = await warn(own_emulator, server, server.members[0])
        assert first.content.startswith("Warned"), first.content

        private_redis.start()
        await bot.wait_for_log("Redis is back", timeout=15)
        second = await warn(own_emulator, server, server.members[1])
        assert second.content.startswith("Warned"), second.content

        private_redis.stop()  # a second outage, mid-use
        for member in server.members[2:]:
            reply = await warn(own_emulator, server, member)
            assert reply.content.startswith("Warned"), reply.content
    finally:
        code = await bot.stop()
    assert code == 0, bot.output
    assert "Traceback" not in bot.output, bot.output
    outages = [line for line in bot.output.splitlines() if "Redis unreachable" in line]
    # Once per outage and component (rate limits, events, cache...), never per command.
    per_component = [line.split("):", 1)[1] for line in outages]
    assert len(per_component) == len(outages)
    assert max(per_component.count(c) for c in set(per_component)) <= 2, outages


@pytest.mark.parametrize("fresh_backend", ["sqlite"], indirect=True)
async def test_a_hung_redis_slows_no_command_past_a_short_timeout(
    own_emulator: DiscordEmulator, own_database_url: str, private_redis: PrivateRedis
) -> None:
    """SIGSTOP keeps the connections open with nobody answering: the worst case.
    Each Redis call gives up after 250 ms, and a component that failed rests a
    second before trying again, so commands keep coming back quickly."""
    server = own_emulator.world.build_standard_guild(regular_members=5)
    bot = await bot_on(own_emulator, own_database_url, server, private_redis)
    try:
        assert (await warn(own_emulator, server, server.members[0])).content.startswith("Warned")
        private_redis.pause()
        try:
            for member in server.members[1:4]:
                handle = await own_emulator.send_slash_command(
                    server.guild, server.general, server.moderator, "kick", {"member": member}
                )
                reply = await handle.wait_final(timeout=3)  # not a benchmark: "no hang"
                assert reply.content.startswith("Kicked"), reply.content
        finally:
            private_redis.resume()
        await asyncio.sleep(Outage.RETRY_AFTER)  # past the rest that follows a failure
        assert (await warn(own_emulator, server, server.members[4])).content.startswith("Warned")
        await bot.wait_for_log("Redis is back", timeout=5)
    finally:
        code = await bot.stop()
    assert code == 0, bot.output
    assert "Traceback" not in bot.output, bot.output
    assert "Timeout" in bot.output  # the outage was seen as timeouts, and logged
