"""Taking turns to IDENTIFY with Discord across every process of the bot.

Discord lets a bot start `max_concurrency` sessions per 5 seconds, one per
bucket (`shard_id % max_concurrency`); more gets the session refused. discord.py
spaces the shards of one process, but processes starting together must share
the schedule: a bucket's turn is a Redis key that lives for the interval, taken
with `SET NX`. Without Redis (one process) the turns are kept in memory.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Protocol

from redis.asyncio import Redis

from bot.domain.metrics import NO_METRICS, Metrics
from bot.infra.clock import Monotonic, Sleep
from bot.infra.redis_client import REDIS_DOWN, Outage

#: Discord's window: each bucket may identify once per this many seconds.
IDENTIFY_INTERVAL = 5.0


class IdentifyGate(Protocol):
    async def wait_turn(self, bucket: int) -> None:
        """Return when this process may identify a shard of `bucket`."""
        ...


class MemoryIdentifyGate:
    def __init__(
        self,
        interval: float = IDENTIFY_INTERVAL,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[int, float] = {}
        self._lock = asyncio.Lock()

    async def wait_turn(self, bucket: int) -> None:
        async with self._lock:
            wait = self._next.get(bucket, 0.0) - self._monotonic()
            if wait > 0:
                await self._sleep(wait)
            self._next[bucket] = self._monotonic() + self._interval


class RedisIdentifyGate:
    """One key per bucket, held for the interval by whoever identifies.

    `sleep` waits for a turn, Redis's or the fallback's; `monotonic` only times
    the fallback and the outage (Redis expires the keys on its own clock).
    """

    def __init__(
        self,
        redis: Redis,
        namespace: str,
        *,
        interval: float = IDENTIFY_INTERVAL,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._redis = redis
        self._namespace = namespace  # the application, so two bots never share turns
        self._interval_ms = max(1, int(interval * 1000))
        self._token = secrets.token_hex(6)
        self._sleep = sleep
        self._fallback = MemoryIdentifyGate(interval, monotonic=monotonic, sleep=sleep)
        self._outage = Outage(
            "identify turns", "are kept per process meanwhile", monotonic=monotonic, metrics=metrics
        )

    async def wait_turn(self, bucket: int) -> None:
        key = f"lockdown:identify:{self._namespace}:{bucket}"
        if self._outage.resting():
            await self._fallback.wait_turn(bucket)
            return
        while True:
            try:
                if await self._redis.set(key, self._token, nx=True, px=self._interval_ms):
                    self._outage.ok()
                    return
                left_ms = await self._redis.pttl(key)
            except REDIS_DOWN as error:
                self._outage.failed(error)
                await self._fallback.wait_turn(bucket)
                return
            await self._sleep(max(left_ms, 10) / 1000)
