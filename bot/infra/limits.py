"""Rate limits and cooldowns, shared through Redis or kept in this process.

Both come in two implementations of one interface: Redis, so every process of
the bot counts the same actions, and memory, for a single process without
Redis. The Redis ones degrade to their memory twins while Redis is unreachable
(logging once per outage) and return to Redis by themselves, so a Redis outage
never blocks a command. Keys are namespaced `lockdown:<kind>:...` and expire.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from collections import deque
from typing import NamedTuple, Protocol

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot.domain.metrics import NO_METRICS, Metrics
from bot.infra.clock import Monotonic
from bot.infra.redis_client import REDIS_DOWN, Outage


class Verdict(NamedTuple):
    """The answer to one rate-limit check (a tuple: the hot path builds one per check)."""

    allowed: bool
    remaining: int
    retry_after: float  # seconds until the next action would be allowed (0 if allowed)


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window: float) -> Verdict:
        """Count one action under `key` if fewer than `limit` happened in `window` seconds."""
        ...


class Cooldowns(Protocol):
    async def start(self, key: str, seconds: float) -> float:
        """Start a cooldown; 0 if it started, else the seconds left on the running one."""
        ...

    async def clear(self, key: str) -> None:
        """End a cooldown early (the command it guarded was refused)."""
        ...


class MemoryRateLimiter:
    """A sliding-window log per key, for one process."""

    def __init__(self, *, monotonic: Monotonic = time.monotonic) -> None:
        self._monotonic = monotonic
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, key: str, *, limit: int, window: float) -> Verdict:
        now = self._monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return Verdict(False, 0, hits[0] + window - now)
        hits.append(now)
        return Verdict(True, limit - len(hits), 0.0)


class MemoryCooldowns:
    def __init__(self, *, monotonic: Monotonic = time.monotonic) -> None:
        self._monotonic = monotonic
        self._until: dict[str, float] = {}

    async def start(self, key: str, seconds: float) -> float:
        now = self._monotonic()
        until = self._until.get(key, 0.0)
        if until > now:
            return until - now
        self._until[key] = now + seconds
        return 0.0

    async def clear(self, key: str) -> None:
        self._until.pop(key, None)


# One round trip: drop hits older than the window, then count and maybe add.
# Redis's own clock keeps every process on one timeline.
_SLIDING_WINDOW = """
local key, limit, window_ms = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
local count = redis.call('ZCARD', key)
if count < limit then
    redis.call('ZADD', key, now, ARGV[3])
    redis.call('PEXPIRE', key, window_ms)
    return limit - count - 1
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return -math.max(1, tonumber(oldest[2]) + window_ms - now)
"""
_SLIDING_WINDOW_SHA = hashlib.sha1(_SLIDING_WINDOW.encode()).hexdigest()


class RedisRateLimiter:
    """A sliding-window limiter: one EVALSHA per check.

    The script answers with one integer (the hits left, or minus the
    milliseconds to wait), the cheapest reply to parse. Redis may not know the
    script yet (first use, or after a restart): the NOSCRIPT answer loads it
    and the check is retried, so callers never see it.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "lockdown:ratelimit:",
        monotonic: Monotonic = time.monotonic,  # the fallback's and the outage's; Redis has its own
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._fallback = MemoryRateLimiter(monotonic=monotonic)
        self._outage = Outage(
            "rate limits", "count in this process meanwhile", monotonic=monotonic, metrics=metrics
        )
        # Members must be unique across every process adding to the same window.
        self._process = secrets.token_hex(6) + ":"
        self._count = itertools.count()

    async def hit(self, key: str, *, limit: int, window: float) -> Verdict:
        if self._outage.resting():
            return await self._fallback.hit(key, limit=limit, window=window)
        args = (
            self._prefix + key, limit, int(window * 1000), self._process + str(next(self._count))
        )  # fmt: skip
        try:
            try:
                left = await self._redis.execute_command(  # type: ignore[no-untyped-call]
                    "EVALSHA", _SLIDING_WINDOW_SHA, 1, *args
                )
            except redis_errors.NoScriptError:
                await self._redis.script_load(_SLIDING_WINDOW)
                left = await self._redis.execute_command(  # type: ignore[no-untyped-call]
                    "EVALSHA", _SLIDING_WINDOW_SHA, 1, *args
                )
        except REDIS_DOWN as error:
            self._outage.failed(error)
            return await self._fallback.hit(key, limit=limit, window=window)
        if self._outage.down:
            self._outage.ok()
        if left >= 0:
            return Verdict(True, left, 0.0)
        return Verdict(False, 0, -left / 1000)


class RedisCooldowns:
    """A cooldown is a key that exists until it expires (`SET NX PX`)."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "lockdown:cooldown:",
        monotonic: Monotonic = time.monotonic,  # the fallback's and the outage's; Redis has its own
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._fallback = MemoryCooldowns(monotonic=monotonic)
        self._outage = Outage(
            "cooldowns", "count in this process meanwhile", monotonic=monotonic, metrics=metrics
        )

    async def start(self, key: str, seconds: float) -> float:
        if self._outage.resting():
            return await self._fallback.start(key, seconds)
        name = self._prefix + key
        try:
            if await self._redis.set(name, 1, nx=True, px=max(1, int(seconds * 1000))):
                self._outage.ok()
                return 0.0
            left_ms = await self._redis.pttl(name)
        except REDIS_DOWN as error:
            self._outage.failed(error)
            return await self._fallback.start(key, seconds)
        self._outage.ok()
        return max(0.0, int(left_ms) / 1000)

    async def clear(self, key: str) -> None:
        await self._fallback.clear(key)
        if self._outage.resting():
            return
        try:
            await self._redis.delete(self._prefix + key)
        except REDIS_DOWN as error:
            self._outage.failed(error)
