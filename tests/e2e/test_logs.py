"""What the real bot logs: one record per action and refusal with its facts as JSON
fields, errors that name command, guild and user, a start-up banner, and never a
secret, whatever fails."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import make_url

from db import migrate
from db.engine import describe
from tests.conftest import PostgresServer
from tests.e2e.harness import BotProcess
from tests.e2e.soak_support import TcpProxy
from tests.e2e.test_operations import operations_port
from tests.emulator import DiscordEmulator, Message, StandardGuild, User
from tests.redis_server import PrivateRedis

CALLBACK = r"/interactions/\d+/[^/]+/callback"


async def run(
    emulator: DiscordEmulator, server: StandardGuild, name: str, options: dict[str, Any]
) -> Message:
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, name, options
    )
    return await handle.wait_final(timeout=20)


def json_records(bot: BotProcess) -> list[dict[str, Any]]:
    """Every line the bot wrote, each a JSON object (a line that is not fails)."""
    return [json.loads(line) for line in bot.lines if line.strip()]


@pytest.mark.parametrize("fresh_backend", ["sqlite"], indirect=True)
async def test_json_records_carry_each_action_refusal_and_error_as_fields(
    own_emulator: DiscordEmulator, own_database_url: str
) -> None:
    server = own_emulator.world.build_standard_guild(regular_members=3)
    target = server.members[0]
    bot = BotProcess(
        own_emulator,
        own_database_url,
        DEV_GUILD_IDS=str(server.guild.id),
        LOG_FORMAT="json",
        HTTP_PORT="0",
    )
    await bot.start()
    try:
        reply = await run(own_emulator, server, "ban", {"user": target, "reason": "spam"})
        assert reply.content.startswith("Banned"), reply.content
        reply = await run(own_emulator, server, "kick", {"member": server.owner})
        assert reply.content == "You can't kick the server owner."
        # Discord refuses the command's first answer: a failure the bot did not expect.
        own_emulator.fail_next("POST", CALLBACK, 400)
        await own_emulator.send_slash_command(
            server.guild,
            server.general,
            server.moderator,
            "warn",
            {"member": server.members[1], "reason": "x"},
        )
        await bot.wait_for_log("command /warn failed")
    finally:
        await bot.stop()
    records = json_records(bot)

    actions = [r for r in records if r["logger"] == "lockdown.actions"]
    ban = next(r for r in actions if r["action"] == "ban")
    assert ban["outcome"] == "done"
    assert (ban["guild"], ban["actor"], ban["target"]) == (
        server.guild.id,
        server.moderator.id,
        target.id,
    )
    assert isinstance(ban["case"], int)
    assert isinstance(ban["ms"], int | float)
    kick = next(r for r in actions if r["action"] == "kick")
    assert (kick["outcome"], kick["target"]) == ("refused", server.owner.id)
    assert kick["reason"] == "You can't kick the server owner."
    assert "case" not in kick  # nothing was recorded
    assert len([r for r in actions if r["action"] == "kick"]) == 1  # logged once, not twice

    error = next(r for r in records if r["level"] == "ERROR")
    assert (error["command"], error["guild"], error["user"]) == (
        "warn",
        server.guild.id,
        server.moderator.id,
    )
    assert (
        f"/warn failed in guild {server.guild.id} for user {server.moderator.id}"
        in (error["message"])
    )
    assert "object at 0x" not in error["message"]
    assert "Traceback" in error["exception"]

    banner = next(r for r in records if r["message"].startswith("connected as"))
    assert banner["shard_ids"] == [0]
    assert banner["shard_count"] == 1
    assert banner["guilds"] == 1
    assert banner["redis"] == "off"
    assert banner["database"] == describe(own_database_url)  # the CLI's words: no password
    assert banner["http_port"] == await_port(bot)
    assert banner["version"]


def await_port(bot: BotProcess) -> int:
    line = next(line for line in bot.lines if "serving /healthz" in line)
    return int(json.loads(line)["message"].rsplit(" ", 1)[1])


async def test_no_secret_reaches_a_log_line_or_an_error_message(
    own_emulator: DiscordEmulator, postgres: PostgresServer, tmp_path: Path
) -> None:
    """The token, the database password and the Redis password, grepped for in the
    output of runs that fail every way they can: a bad token, the database down at
    start-up, then Discord answering 5xx, a command failing, Redis and the database
    going away under a running bot (and /readyz and /metrics meanwhile)."""
    database_password = "pg-" + secrets.token_hex(8)
    redis_password = "rd-" + secrets.token_hex(8)
    bad_token = "bad-" + secrets.token_hex(12)
    server = own_emulator.world.build_standard_guild(regular_members=4)
    url = await postgres.create_database()
    await asyncio.to_thread(migrate.upgrade, url)
    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.start()
    # PostgreSQL trusts local connections: the password is sent, and ignored.
    bot_url = proxy.url(parsed.set(password=database_password).render_as_string(False))
    redis = PrivateRedis(tmp_path, password=redis_password)
    redis.start()
    said: list[str] = []
    settings = {"REDIS_URL": redis.url, "DEV_GUILD_IDS": str(server.guild.id)}
    try:
        refused = BotProcess(own_emulator, bot_url, **settings, DISCORD_TOKEN=bad_token)
        await refused.start(wait_ready=False)
        assert await refused.exited() != 0
        assert "Discord rejected DISCORD_TOKEN" in refused.output
        said.append(refused.output)

        await proxy.refuse()
        no_database = BotProcess(own_emulator, bot_url, **settings)
        await no_database.start(wait_ready=False)
        assert await no_database.exited() != 0
        said.append(no_database.output)
        await proxy.resume()

        said += await failures_under_a_running_bot(own_emulator, server, bot_url, proxy, redis)
    finally:
        redis.stop()
        await proxy.close()
    everything = "\n".join(said)
    assert "cannot use the database" in everything  # the runs did fail as meant
    for secret in (own_emulator.token, bad_token, database_password, redis_password):
        assert secret not in everything
        assert secret.split(".")[-1] not in everything  # nor a recognisable part of it


async def failures_under_a_running_bot(
    emulator: DiscordEmulator,
    server: StandardGuild,
    database_url: str,
    proxy: TcpProxy,
    redis: PrivateRedis,
) -> list[str]:
    """What the bot and its endpoints said while things failed under it."""
    members: list[User] = list(server.members)
    bot = BotProcess(
        emulator,
        database_url,
        REDIS_URL=redis.url,
        DEV_GUILD_IDS=str(server.guild.id),
        HTTP_PORT="0",
        LOG_LEVEL="DEBUG",
    )
    await bot.start()
    said: list[str] = []
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{await operations_port(bot)}"

        async def endpoints() -> None:
            for path in ("/readyz", "/metrics"):
                async with http.get(base + path) as response:
                    said.append(await response.text())

        try:
            emulator.fail_next("PUT", r"/guilds/\d+/bans/\d+", 500, times=None)
            reply = await run(emulator, server, "ban", {"user": members.pop()})
            assert "Discord is having trouble" in reply.content, reply.content
            emulator.clear_faults()

            emulator.fail_next("POST", CALLBACK, 400)
            await emulator.send_slash_command(
                server.guild, server.general, server.moderator, "note",
                {"user": members[0], "text": "x"},
            )  # fmt: skip
            await bot.wait_for_log("command /note failed")

            redis.stop()
            reply = await run(emulator, server, "warn", {"member": members.pop(), "reason": "x"})
            assert reply.content.startswith("Warned"), reply.content
            await endpoints()

            await proxy.refuse()
            reply = await run(emulator, server, "warn", {"member": members.pop(), "reason": "x"})
            assert "database is unavailable" in reply.content, reply.content
            await endpoints()
            await proxy.resume()
            redis.start()
            await endpoints()
        finally:
            await bot.stop()
    said.append(bot.output)
    return said
