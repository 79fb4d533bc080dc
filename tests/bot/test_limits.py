"""Rate limits and cooldowns: the same behaviour in memory and on a real Redis,
shared between clients, surviving a script flush and a Redis outage."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
from redis.asyncio import Redis

from bot.limits import (
    Cooldowns,
    MemoryCooldowns,
    MemoryRateLimiter,
    RateLimiter,
    RedisCooldowns,
    RedisRateLimiter,
)
from bot.redis_client import Outage
from tests.conftest import REDIS_URL
from tests.redis_server import PrivateRedis, ready


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter()
    redis: Redis = request.getfixturevalue("redis_client")
    return RedisRateLimiter(redis, prefix=f"lockdown:test:{secrets.token_hex(4)}:")


@pytest.fixture(params=["memory", "redis"])
def cooldowns(request: pytest.FixtureRequest) -> Cooldowns:
    if request.param == "memory":
        return MemoryCooldowns()
    redis: Redis = request.getfixturevalue("redis_client")
    return RedisCooldowns(redis, prefix=f"lockdown:test:{secrets.token_hex(4)}:")


async def test_a_sliding_window_allows_the_limit_then_says_how_long_to_wait(
    limiter: RateLimiter,
) -> None:
    verdicts = [await limiter.hit("mod:1", limit=3, window=0.5) for _ in range(4)]
    assert [(v.allowed, v.remaining) for v in verdicts] == [
        (True, 2), (True, 1), (True, 0), (False, 0),
    ]  # fmt: skip
    assert 0 < verdicts[3].retry_after <= 0.5
    assert (await limiter.hit("mod:2", limit=3, window=0.5)).allowed  # keys are separate
    await asyncio.sleep(verdicts[3].retry_after + 0.05)
    assert (await limiter.hit("mod:1", limit=3, window=0.5)).allowed


async def test_cooldowns_hold_then_lapse(cooldowns: Cooldowns) -> None:
    assert await cooldowns.start("user:1:warn", 0.4) == 0
    left = await cooldowns.start("user:1:warn", 0.4)
    assert 0 < left <= 0.4
    assert await cooldowns.start("user:2:warn", 0.4) == 0
    await asyncio.sleep(left + 0.05)
    assert await cooldowns.start("user:1:warn", 0.4) == 0


async def test_every_client_counts_the_same_actions(redis_client: Redis) -> None:
    """Two processes of the bot are two clients: the limit is theirs together."""
    prefix = f"lockdown:test:{secrets.token_hex(4)}:"
    other = Redis.from_url(REDIS_URL)
    try:
        first, second = (
            RedisRateLimiter(redis_client, prefix=prefix),
            RedisRateLimiter(other, prefix=prefix),
        )
        results = [
            await (first if i % 2 else second).hit("mod", limit=4, window=10) for i in range(6)
        ]
        assert [r.allowed for r in results] == [True, True, True, True, False, False]
    finally:
        await other.aclose()


async def test_a_flushed_script_cache_is_reloaded_transparently(redis_client: Redis) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=f"lockdown:test:{secrets.token_hex(4)}:")
    assert (await limiter.hit("k", limit=2, window=10)).allowed
    await redis_client.script_flush()
    verdict = await limiter.hit("k", limit=2, window=10)
    assert (verdict.allowed, verdict.remaining) == (True, 0)


async def test_an_outage_falls_back_to_this_process_then_recovers(
    private_redis: PrivateRedis, private_client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.redis_client")
    limiter = RedisRateLimiter(private_client)
    cooldowns = RedisCooldowns(private_client)
    assert (await limiter.hit("mod", limit=2, window=60)).allowed

    private_redis.stop()
    during = [await limiter.hit("mod", limit=2, window=60) for _ in range(3)]
    assert [v.allowed for v in during] == [True, True, False]  # the process's own count
    assert await cooldowns.start("user", 60) == 0
    assert await cooldowns.start("user", 60) > 0
    assert sum("Redis unreachable" in r.message for r in caplog.records) == 2  # once each

    private_redis.start()
    await ready(private_client)
    await asyncio.sleep(Outage.RETRY_AFTER)  # it rests a moment after a failure, then tries
    verdict = await limiter.hit("mod", limit=2, window=60)
    assert (verdict.allowed, verdict.remaining) == (True, 1)  # a fresh Redis, a fresh count
    assert await private_client.exists("lockdown:ratelimit:mod") == 1
    assert any("Redis is back" in r.message for r in caplog.records)
