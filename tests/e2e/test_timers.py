"""Temporary bans end on time and once: while running, across a restart, after
downtime, and with two processes each owning half the shards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.lifecycle import Action
from bot.domain.models import Case
from db.engine import Database
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator, StandardGuild, User

ON_TIME = timedelta(seconds=2)


async def temp_ban(
    emulator: DiscordEmulator, server: StandardGuild, target: User, duration: str
) -> None:
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "ban",
        {"user": target, "duration": duration},
    )  # fmt: skip
    reply = await handle.wait_final(timeout=15)
    assert reply.content.startswith("Banned"), reply.content


async def ban_case(database: Database, server: StandardGuild, target: User) -> Case:
    async with database.autocommit() as uow:
        found = await uow.cases.active(server.guild.id, target.id, Action.BAN)
    assert found is not None
    return found


async def unbanned_at(
    emulator: DiscordEmulator,
    server: StandardGuild,
    target: User,
    *,
    timeout: float,  # noqa: ASYNC109
) -> datetime:
    """When the bot lifted the ban (waits for it)."""
    await emulator.wait_until(
        lambda: target.id not in emulator.bans(server.guild) or None,
        timeout=timeout,
        what=f"the ban of {target.username} to be lifted",
    )
    return datetime.now(UTC)


async def closing_cases(database: Database, server: StandardGuild, target: User) -> list[Case]:
    async with database.autocommit() as uow:
        history = await uow.cases.history(server.guild.id, target.id)
    assert [c.active for c in history if c.type is Action.BAN] == [False]
    return [case for case in history if case.type is Action.UNBAN]


def bot_for(
    emulator: DiscordEmulator, url: str, *guilds: StandardGuild, **extra: str
) -> BotProcess:
    ids = ",".join(str(g.guild.id) for g in guilds)
    return BotProcess(emulator, url, DEV_GUILD_IDS=ids, **extra)


@pytest.mark.alone  # the restart races the second expiry with about a second to spare
async def test_bans_end_on_time_even_across_a_restart(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    emulator, database_url, database = own_emulator, own_database_url, own_database
    server = emulator.world.build_standard_guild()
    early, late, muted = server.members[0], server.members[1], server.members[2]
    bot = await bot_for(emulator, database_url, server).start()
    mute = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "mute",
        {"member": muted, "duration": "10s"},
    )  # fmt: skip
    assert (await mute.wait_final(timeout=15)).content.startswith("Timed out")
    await temp_ban(emulator, server, early, "10s")
    await temp_ban(emulator, server, late, "14s")
    early_case = await ban_case(database, server, early)
    late_case = await ban_case(database, server, late)

    try:
        lifted = await unbanned_at(emulator, server, early, timeout=15)
    except TimeoutError:
        raise AssertionError(bot.output[-8000:]) from None
    assert early_case.expires_at is not None
    assert early_case.expires_at <= lifted + timedelta(milliseconds=100)
    assert lifted - early_case.expires_at < ON_TIME

    assert await bot.stop() == 0  # restart mid-wait for the second ban
    bot = await bot_for(emulator, database_url, server).start()
    ready = datetime.now(UTC)
    lifted = await unbanned_at(emulator, server, late, timeout=20)
    assert late_case.expires_at is not None
    # On time, or at once if a slow restart ran past the expiry.
    assert lifted - max(late_case.expires_at, ready) < ON_TIME
    assert await bot.stop() == 0

    for target in (early, late):
        [unban] = await closing_cases(database, server, target)
        assert unban.moderator_id == emulator.world.bot.id
    async with database.autocommit() as uow:
        history = await uow.cases.history(server.guild.id, muted.id)
    assert len(history) == 2, history
    unmute, ended = history
    assert (ended.type, ended.active) == (Action.MUTE, False)
    assert (unmute.type, unmute.related_number) == (Action.UNMUTE, ended.number)
    assert emulator.timeout_until(server.guild, muted) is None
    assert "Traceback" not in bot.output


async def test_a_ban_that_expired_while_the_bot_was_down_ends_at_start_up(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    emulator, database_url, database = own_emulator, own_database_url, own_database
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    bot = await bot_for(emulator, database_url, server).start()
    await temp_ban(emulator, server, target, "10s")
    case = await ban_case(database, server, target)
    await bot.kill()  # a crash: no goodbye

    assert case.expires_at is not None
    await asyncio.sleep(max(0.0, (case.expires_at - datetime.now(UTC)).total_seconds()) + 1)
    assert target.id in emulator.bans(server.guild)

    bot = await bot_for(emulator, database_url, server).start()
    await unbanned_at(emulator, server, target, timeout=10)
    assert await bot.stop() == 0
    assert len(await closing_cases(database, server, target)) == 1


async def test_two_processes_each_end_only_their_own_shards_bans(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    emulator, database_url, database = own_emulator, own_database_url, own_database
    first = emulator.world.build_standard_guild("First server", shard=(0, 4))
    second = emulator.world.build_standard_guild("Second server", shard=(3, 4))
    a = bot_for(emulator, database_url, first, second, SHARD_COUNT="4", SHARD_IDS="0-1")
    b = bot_for(emulator, database_url, first, second, SHARD_COUNT="4", SHARD_IDS="2,3")
    await asyncio.gather(a.start(), b.start())

    await temp_ban(emulator, first, first.members[0], "10s")
    await temp_ban(emulator, second, second.members[0], "10s")
    await unbanned_at(emulator, first, first.members[0], timeout=15)
    await unbanned_at(emulator, second, second.members[0], timeout=15)
    assert [await a.stop(), await b.stop()] == [0, 0]

    assert f"in guild {first.guild.id} expired" in a.output
    assert f"in guild {second.guild.id} expired" not in a.output
    assert f"in guild {second.guild.id} expired" in b.output
    assert f"in guild {first.guild.id} expired" not in b.output
    for server in (first, second):
        assert len(await closing_cases(database, server, server.members[0])) == 1
