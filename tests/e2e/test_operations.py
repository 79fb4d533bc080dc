"""The operations endpoints of the real bot (HTTP_PORT): liveness, readiness that names
what is down, and Prometheus metrics of what the bot did."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import make_url

from bot.domain.lifecycle import Action
from db import migrate
from db.engine import Database
from tests.conftest import PostgresServer
from tests.e2e.harness import BotProcess, preset_guild
from tests.e2e.soak_support import TcpProxy
from tests.emulator import DiscordEmulator, Message, StandardGuild, User
from tests.redis_server import PrivateRedis

#: The most a test waits for the bot to notice a change (polling, not a timing).
NOTICE = 30.0


@dataclass
class BotDatabase:
    """The bot's database, which a test can take away and give back."""

    url: str  # what the bot is given
    away: Callable[[], Awaitable[None]]
    back: Callable[[], Awaitable[None]]


@pytest.fixture
async def bot_db(
    fresh_backend: str, postgres: PostgresServer, tmp_path: Path
) -> AsyncIterator[BotDatabase]:
    """SQLite in a directory of its own: away, the directory is moved (the bot's open
    connections keep their files; a new one finds nothing to open). PostgreSQL behind
    a proxy: away, it refuses connections and cuts the open ones."""
    if fresh_backend == "sqlite":
        home, elsewhere = tmp_path / "data", tmp_path / "away"
        home.mkdir()
        url = f"sqlite+aiosqlite:///{home / 'bot.db'}"
        await asyncio.to_thread(migrate.upgrade, url)

        async def move_away() -> None:
            shutil.move(home, elsewhere)

        async def move_back() -> None:
            shutil.move(elsewhere, home)

        yield BotDatabase(url, move_away, move_back)
        return
    url = await postgres.create_database()
    await asyncio.to_thread(migrate.upgrade, url)
    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    await proxy.start()
    try:
        yield BotDatabase(proxy.url(url), proxy.refuse, proxy.resume)
    finally:
        await proxy.close()


async def operations_port(bot: BotProcess) -> int:
    await bot.wait_for_log("serving /healthz")
    line = next(line for line in bot.lines if "serving /healthz" in line)
    found = re.search(r"on port (\d+)", line)
    assert found is not None, line
    return int(found[1])


class Endpoints:
    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self._session = session
        self._base = f"http://127.0.0.1:{port}"

    async def get(self, path: str) -> tuple[int, str]:
        async with self._session.get(self._base + path) as response:
            return response.status, await response.text()

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        async with self._session.get(self._base + "/readyz") as response:
            return response.status, await response.json()

    async def readiness_until(
        self, wanted: Callable[[int, dict[str, Any]], bool]
    ) -> tuple[int, dict[str, Any]]:
        """Ask /readyz until its answer is `wanted` (the bot notices changes by itself)."""
        status, body = await self.readiness()
        async with asyncio.timeout(NOTICE):
            while not wanted(status, body):
                await asyncio.sleep(0.2)
                status, body = await self.readiness()
        return status, body

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample, keyed by name and labels."""
        status, text = await self.get("/metrics")
        assert status == 200, text
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


async def start_bot(
    emulator: DiscordEmulator,
    server: StandardGuild,
    database_url: str,
    http: aiohttp.ClientSession,
    **settings: str,
) -> tuple[BotProcess, Endpoints]:
    bot = BotProcess(
        emulator, database_url, DEV_GUILD_IDS=str(server.guild.id), HTTP_PORT="0", **settings
    )
    await bot.start()
    return bot, Endpoints(http, await operations_port(bot))


async def stop_cleanly(bot: BotProcess) -> None:
    code = await bot.stop()
    assert code == 0, bot.output
    assert "Traceback" not in bot.output, bot.output


async def test_readiness_names_the_database_and_the_shard_that_are_down(
    own_emulator: DiscordEmulator, bot_db: BotDatabase, http: aiohttp.ClientSession
) -> None:
    server = own_emulator.world.build_standard_guild(regular_members=2)
    bot, endpoints = await start_bot(own_emulator, server, bot_db.url, http)
    try:
        assert await endpoints.get("/healthz") == (200, '{"status": "alive"}')
        status, body = await endpoints.readiness_until(lambda status, _: status == 200)
        assert body["status"] == "ready"
        assert body["checks"] == {"database": "ok", "shard 0": "connected", "redis": "off"}

        await bot_db.away()
        status, body = await endpoints.readiness()
        assert (status, body["status"], body["down"]) == (503, "unready", ["database"])
        assert body["checks"]["database"] != "ok"
        assert (await endpoints.get("/healthz"))[0] == 200  # alive, if not ready
        await bot_db.back()
        await endpoints.readiness_until(lambda status, _: status == 200)

        await own_emulator.gateway_outage()
        status, body = await endpoints.readiness_until(lambda status, _: status == 503)
        assert body["down"] == ["shard 0"]
        assert body["checks"]["shard 0"] == "disconnected"
        assert body["checks"]["database"] == "ok"
        own_emulator.gateway_restored()
        status, body = await endpoints.readiness_until(lambda status, _: status == 200)
        assert body["checks"]["shard 0"] == "connected"
    finally:
        own_emulator.gateway_restored()
        await stop_cleanly(bot)


@pytest.mark.parametrize("fresh_backend", ["sqlite"], indirect=True)
async def test_a_port_in_use_is_one_clear_line(
    own_emulator: DiscordEmulator, own_database_url: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bot = BotProcess(own_emulator, own_database_url, HTTP_PORT=str(port))
        await bot.start(wait_ready=False)
        assert await bot.exited() == 2
    assert f"lockdown: HTTP_PORT is invalid: cannot listen on port {port}" in bot.output
    assert "Traceback" not in bot.output


@pytest.mark.parametrize("fresh_backend", ["sqlite"], indirect=True)
async def test_redis_away_is_degraded_not_unready(
    own_emulator: DiscordEmulator,
    own_database_url: str,
    private_redis: PrivateRedis,
    http: aiohttp.ClientSession,
) -> None:
    server = own_emulator.world.build_standard_guild(regular_members=2)
    bot, endpoints = await start_bot(
        own_emulator, server, own_database_url, http, REDIS_URL=private_redis.url
    )
    try:
        status, body = await endpoints.readiness_until(lambda status, _: status == 200)
        assert (body["status"], body["checks"]["redis"]) == ("ready", "ok")
        assert (await endpoints.metrics())[("lockdown_redis_up", frozenset())] == 1

        private_redis.stop()
        status, body = await endpoints.readiness()
        assert (status, body["status"]) == (200, "degraded")
        assert (body["down"], body["degraded"]) == ([], ["redis"])
        assert body["checks"]["redis"].startswith("unreachable")
        reply = await warn(own_emulator, server, server.members[0])
        assert reply.content.startswith("Warned"), reply.content

        samples = await endpoints.metrics()
        assert samples[("lockdown_redis_up", frozenset())] == 0
        outages = counted(samples, "lockdown_redis_outages_total", "component")
        fallbacks = counted(samples, "lockdown_redis_fallbacks_total", "component")
        # The command's pace check went to the in-process limiter.
        assert outages["rate_limits"] >= 1, outages
        assert fallbacks["rate_limits"] >= 1, fallbacks
    finally:
        await stop_cleanly(bot)


def counted(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, label: str
) -> dict[str, float]:
    """One series' values by one label (summing over the others)."""
    found: dict[str, float] = {}
    for (sample, labels), value in samples.items():
        if sample == name:
            key = dict(labels)[label]
            found[key] = found.get(key, 0) + value
    return found


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def run(
    emulator: DiscordEmulator, server: StandardGuild, name: str, options: dict[str, Any]
) -> Message:
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, name, options
    )
    return await handle.wait_final(timeout=15)


async def warn(emulator: DiscordEmulator, server: StandardGuild, member: User) -> Message:
    return await run(emulator, server, "warn", {"member": member, "reason": "x"})


async def test_metrics_count_commands_cases_requests_and_statements(
    own_emulator: DiscordEmulator,
    own_database_url: str,
    own_database: Database,
    http: aiohttp.ClientSession,
) -> None:
    """A morning's moderation, then /metrics: each thing done is counted once, under
    labels that name commands, actions and routes, never ids."""
    server = own_emulator.world.build_standard_guild(regular_members=4)
    warned, banned, spared = server.members[0], server.members[1], server.members[2]
    await preset_guild(own_database_url, own_database, server, antinuke_actions=1)
    async with own_database.transaction() as uow:
        await uow.policies.add(
            server.guild.id,
            threshold=2,
            action=Action.KICK,
            duration_seconds=None,
            window_seconds=None,
            created_by=server.owner.id,
            now=datetime.now(UTC),
        )
    # Three bot-token requests a second in all: the two warnings' DMs run into
    # Discord's global limit, and discord.py waits out the 429s.
    own_emulator.rate_limits.enable()
    own_emulator.rate_limits.override("global", limit=3, per=1.0)
    bot, endpoints = await start_bot(own_emulator, server, own_database_url, http)
    try:
        assert (await warn(own_emulator, server, warned)).content.startswith("Warned")
        assert (await warn(own_emulator, server, warned)).content.startswith("Warned")
        reply = await run(own_emulator, server, "ban", {"user": banned, "duration": "1d"})
        assert reply.content.startswith("Banned"), reply.content
        reply = await run(own_emulator, server, "ban", {"user": spared})
        assert "limit of 1 bans and kicks" in reply.content, reply.content
        samples = await endpoints.metrics()
    finally:
        await stop_cleanly(bot)

    assert value(samples, "lockdown_commands_total", command="warn", outcome="ok") == 2
    assert value(samples, "lockdown_commands_total", command="ban", outcome="ok") == 1
    assert value(samples, "lockdown_commands_total", command="ban", outcome="refused") == 1
    assert value(
        samples, "lockdown_command_duration_seconds_count", command="warn", outcome="ok"
    ) == 2  # fmt: skip
    # Two warnings, the kick the second one escalated to, the ban; the refused ban
    # recorded nothing.
    assert counted(samples, "lockdown_cases_recorded_total", "type") == {
        "warn": 2,
        "kick": 1,
        "ban": 1,
    }
    assert value(samples, "lockdown_escalations_total", action="kick") == 1
    assert value(samples, "lockdown_antinuke_refusals_total", limit="actions") == 1
    assert value(samples, "lockdown_actions_total", action="ban", outcome="refused") == 1

    requests = counted(samples, "lockdown_discord_requests_total", "route")
    assert requests["PUT /guilds/{guild_id}/bans/{user_id}"] == 1
    assert requests["DELETE /guilds/{guild_id}/members/{user_id}"] == 1  # the kick
    assert "POST /interactions/{interaction_id}/{interaction_token}/callback" in requests
    limited = counted(samples, "lockdown_discord_rate_limited_total", "scope")
    hits = own_emulator.rate_limits.global_hits
    assert hits, "the test meant Discord to answer 429"
    assert limited == {"global": len(hits)}
    statuses = counted(samples, "lockdown_discord_requests_total", "status")
    assert statuses["429"] == len(hits)

    # The case log's fast path (the raw driver) is timed like SQLAlchemy's statements.
    paths = counted(samples, "lockdown_db_statement_duration_seconds_count", "path")
    assert paths["driver"] == 4  # one per case
    assert paths["sqlalchemy"] > 0
    assert value(samples, "lockdown_gateway_connected", shard="0") == 1
    assert ("lockdown_gateway_latency_seconds", frozenset({("shard", "0")})) in samples
    pools = counted(samples, "lockdown_db_pool_checked_out", "pool")
    assert set(pools) == {"transactions", "autocommit"}
    assert value(samples, "lockdown_timers_pending") == 1  # the day's ban
    assert value(samples, "lockdown_timers_overdue") == 0
    lookups = counted(samples, "lockdown_cache_lookups_total", "result")
    assert lookups["miss"] >= 1, lookups
    assert lookups["l1_hit"] >= 1, lookups

    ids = {str(server.guild.id)} | {str(user.id) for user in server.members}
    labels = {value for (_, pairs) in samples for (_, value) in pairs}
    assert not [label for label in labels if any(i in label for i in ids)]
