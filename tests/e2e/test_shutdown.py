"""A SIGTERM stops the bot within a few seconds in every state: connecting, idle, in the
middle of a slow Discord call, and while Discord keeps failing a timer's request."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import NewCase
from db.engine import Database
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator
from tests.helpers import record

#: "A few seconds": the harness's own SIGTERM-to-exit budget is 15 s.
FEW_SECONDS = 5.0


async def timed_stop(bot: BotProcess) -> float:
    started = time.monotonic()
    code = await bot.stop()
    elapsed = time.monotonic() - started
    assert code == 0, f"exit {code} after {elapsed:.1f}s:\n{bot.output[-3000:]}"
    assert "Traceback" not in bot.output, bot.output[-4000:]
    return elapsed


def bot_for(emulator: DiscordEmulator, url: str, guild_id: int) -> BotProcess:
    return BotProcess(emulator, url, DEV_GUILD_IDS=str(guild_id))


async def test_sigterm_while_connecting_and_while_idle(
    own_emulator: DiscordEmulator, own_database_url: str
) -> None:
    server = own_emulator.world.build_standard_guild()
    connecting = await bot_for(own_emulator, own_database_url, server.guild.id).start(
        wait_ready=False
    )
    await asyncio.sleep(0.5)
    assert await timed_stop(connecting) < FEW_SECONDS

    idle = await bot_for(own_emulator, own_database_url, server.guild.id).start()
    assert await timed_stop(idle) < FEW_SECONDS


async def test_sigterm_during_a_slow_discord_call_leaves_nothing_half_done(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    emulator = own_emulator
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    bot = await bot_for(emulator, own_database_url, server.guild.id).start()
    emulator.add_latency(30, "PUT", r".*/bans/\d+")
    await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "ban", {"user": target}
    )
    await emulator.wait_until(
        lambda: any(r.method == "PUT" and "/bans/" in r.path for r in emulator.requests) or None,
        timeout=10,
        what="the ban request to reach Discord",
    )
    assert await timed_stop(bot) < FEW_SECONDS
    async with own_database.autocommit() as uow:
        [case] = await uow.cases.history(server.guild.id, target.id, include_failed=True)
    assert case.state is CaseState.PENDING  # the intent waits for the settling sweep


async def test_sigterm_while_discord_keeps_failing_a_timer(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    emulator = own_emulator
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    now = datetime.now(UTC)
    async with own_database.transaction() as uow:
        await uow.guilds.record_join(server.guild.id, server.guild.name, now=now)
    server.guild.bans[target.id] = "an earlier temporary ban"  # now overdue
    await record(
        own_database,
        server.guild.id,
        NewCase(
            Action.BAN, target.id, server.moderator.id, now - timedelta(hours=1),
            expires_at=now - timedelta(minutes=1), state=CaseState.ACTIVE,
        ),
    )  # fmt: skip
    emulator.fail_next("DELETE", r".*/bans/\d+", 502, times=None)  # retried, then retried again
    bot = await bot_for(emulator, own_database_url, server.guild.id).start()
    await emulator.wait_until(
        lambda: any(r.method == "DELETE" and "/bans/" in r.path for r in emulator.requests) or None,
        timeout=15,
        what="the timer's unban to reach Discord",
    )
    assert await timed_stop(bot) < FEW_SECONDS
