"""Rate limits and cooldowns: the same behaviour in memory and on a real Redis,
shared between clients, surviving a script flush and a Redis outage."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
from redis.asyncio import Redis

from bot.infra.clock import Sleep
from bot.infra.limits import (
    Cooldowns,
    MemoryCooldowns,
    MemoryRateLimiter,
    RateLimiter,
    RedisCooldowns,
    RedisRateLimiter,
)
from bot.infra.redis_client import Outage
from tests.conftest import REDIS_URL
from tests.fake_clock import FakeMonotonic
from tests.redis_server import PrivateRedis, ready


@pytest.fixture(params=["memory", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def elapse(kind: str, clock: FakeMonotonic) -> Sleep:
    """Let time pass: on the fake clock in memory; for real on Redis, which
    counts and expires on its own clock."""
    return clock.sleep if kind == "memory" else asyncio.sleep


@pytest.fixture
def limiter(kind: str, clock: FakeMonotonic, request: pytest.FixtureRequest) -> RateLimiter:
    if kind == "memory":
        return MemoryRateLimiter(monotonic=clock)
    redis: Redis = request.getfixturevalue("redis_client")
    return RedisRateLimiter(redis, prefix=f"lockdown:test:{secrets.token_hex(4)}:")


@pytest.fixture
def cooldowns(kind: str, clock: FakeMonotonic, request: pytest.FixtureRequest) -> Cooldowns:
    if kind == "memory":
        return MemoryCooldowns(monotonic=clock)
    redis: Redis = request.getfixturevalue("redis_client")
    return RedisCooldowns(redis, prefix=f"lockdown:test:{secrets.token_hex(4)}:")


async def test_a_sliding_window_allows_the_limit_then_says_how_long_to_wait(
    limiter: RateLimiter, elapse: Sleep
) -> None:
    verdicts = [await limiter.hit("mod:1", limit=3, window=0.5) for _ in range(4)]
    assert [(v.allowed, v.remaining) for v in verdicts] == [
        (True, 2), (True, 1), (True, 0), (False, 0),
    ]  # fmt: skip
    assert 0 < verdicts[3].retry_after <= 0.5
    assert (await limiter.hit("mod:2", limit=3, window=0.5)).allowed  # keys are separate
    await elapse(verdicts[3].retry_after + 0.05)
    assert (await limiter.hit("mod:1", limit=3, window=0.5)).allowed


async def test_cooldowns_hold_then_lapse(cooldowns: Cooldowns, elapse: Sleep) -> None:
    assert await cooldowns.start("user:1:warn", 0.4) == 0
    left = await cooldowns.start("user:1:warn", 0.4)
    assert 0 < left <= 0.4
    assert await cooldowns.start("user:2:warn", 0.4) == 0
    await elapse(left + 0.05)
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
    caplog.set_level(logging.INFO, logger="bot.infra.redis_client")
    clock = FakeMonotonic()
    limiter = RedisRateLimiter(private_client, monotonic=clock)
    cooldowns = RedisCooldowns(private_client, monotonic=clock)
    assert (await limiter.hit("mod", limit=2, window=60)).allowed

    private_redis.stop()
    during = [await limiter.hit("mod", limit=2, window=60) for _ in range(3)]
    assert [v.allowed for v in during] == [True, True, False]  # the process's own count
    assert await cooldowns.start("user", 60) == 0
    assert await cooldowns.start("user", 60) > 0
    assert sum("Redis unreachable" in r.message for r in caplog.records) == 2  # once each

    private_redis.start()
    await ready(private_client)
    clock.advance(Outage.RETRY_AFTER)  # it rests a moment after a failure, then tries
    verdict = await limiter.hit("mod", limit=2, window=60)
    assert (verdict.allowed, verdict.remaining) == (True, 1)  # a fresh Redis, a fresh count
    assert await private_client.exists("lockdown:ratelimit:mod") == 1
    assert any("Redis is back" in r.message for r in caplog.records)
