"""Read-through caches: in this process (L1), and shared through Redis (L2).

The database stays the source of truth. A writer commits, loads the fresh
value and `put`s it: that overwrites L1 and L2 and tells every other process
(through the event bus) to drop its L1, so no process serves a stale value for
longer than the message takes to arrive. Readers fill L2 only if it is empty
(`SET NX`), so a reader that loaded just before a write cannot overwrite the
writer's fresh value.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from redis.asyncio import Redis

from bot.domain.metrics import NO_METRICS, Metrics
from bot.infra.clock import Monotonic
from bot.infra.events import CacheInvalidated, Event, EventBus
from bot.infra.redis_client import REDIS_DOWN, Outage

log = logging.getLogger(__name__)

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class CacheStats:
    l1_hits: int
    l2_hits: int
    misses: int

    @property
    def hit_ratio(self) -> float:
        total = self.l1_hits + self.l2_hits + self.misses
        return (self.l1_hits + self.l2_hits) / total if total else 0.0


class Cache(Protocol[V]):
    async def get_or_load(self, key: int, load: Callable[[], Awaitable[V]]) -> V: ...

    async def put(self, key: int, value: V) -> None:
        """The source changed and `value` is its fresh state."""
        ...

    def stats(self) -> CacheStats: ...


class MemoryCache(Generic[V]):
    """One process: a TTL dictionary. A write in this process replaces the entry,
    so it never serves a value older than its own last write."""

    def __init__(
        self,
        ttl_seconds: float = 300.0,
        *,
        monotonic: Monotonic = time.monotonic,
        name: str = "config",
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._name = name
        self._metrics = metrics
        self._entries: dict[int, tuple[float, V]] = {}
        self._hits = 0
        self._misses = 0

    async def get_or_load(self, key: int, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._monotonic():
            self._hits += 1
            self._metrics.cache_lookup(self._name, "l1_hit")
            return entry[1]
        self._misses += 1
        self._metrics.cache_lookup(self._name, "miss")
        value = await load()
        self._entries[key] = (self._monotonic() + self._ttl, value)
        return value

    async def put(self, key: int, value: V) -> None:
        self._entries[key] = (self._monotonic() + self._ttl, value)

    def stats(self) -> CacheStats:
        return CacheStats(self._hits, 0, self._misses)


class TieredCache(Generic[V]):
    """L1 in this process in front of L2 in Redis, kept coherent by the event bus.

    While Redis is away the cache reads through to the database (one warning
    per outage); writes it could not pass on are replayed when Redis is back,
    and the bus's reconnect hook drops L1, since invalidations sent meanwhile
    were lost.
    """

    def __init__(
        self,
        name: str,
        redis: Redis,
        bus: EventBus,
        *,
        encode: Callable[[V], str],
        decode: Callable[[str | bytes], V],
        l1_ttl: float = 60.0,
        l2_ttl: float = 600.0,
        monotonic: Monotonic = time.monotonic,  # L1's clock; Redis expires L2 on its own
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.name = name
        self._redis = redis
        self._bus = bus
        self._encode = encode
        self._decode = decode
        self._l1_ttl = l1_ttl
        self._monotonic = monotonic
        self._l2_ttl_ms = int(l2_ttl * 1000)
        self._local: dict[int, tuple[float, V]] = {}
        # Bumped whenever an entry is dropped or replaced: a load that started
        # before then may be stale and must not land in L1.
        self._epoch = 0
        self._unsynced: set[int] = set()  # written while Redis was away
        self._metrics = metrics
        self._outage = Outage(
            f"the {name} cache",
            "reads the database meanwhile",
            monotonic=monotonic,
            metrics=metrics,
        )
        self._l1_hits = self._l2_hits = self._misses = 0
        bus.subscribe(self._on_event)
        bus.on_reconnect(self.drop_local)

    def _key(self, key: int) -> str:
        return f"lockdown:cache:{self.name}:{key}"

    async def get_or_load(self, key: int, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._local.get(key)
        if entry is not None and entry[0] > self._monotonic():
            self._l1_hits += 1
            self._metrics.cache_lookup(self.name, "l1_hit")
            return entry[1]
        epoch = self._epoch
        shared = await self._read_l2(key)
        if shared is not None:
            self._l2_hits += 1
            self._metrics.cache_lookup(self.name, "l2_hit")
            value = self._decode(shared)
        else:
            self._misses += 1
            self._metrics.cache_lookup(self.name, "miss")
            value = await load()
            await self._fill_l2(key, value)
        if epoch == self._epoch:
            self._local[key] = (self._monotonic() + self._l1_ttl, value)
        return value

    async def put(self, key: int, value: V) -> None:
        self._epoch += 1
        self._local[key] = (self._monotonic() + self._l1_ttl, value)
        stored = False
        if not self._outage.resting():
            try:
                await self._flush_unsynced()
                await self._redis.set(self._key(key), self._encode(value), px=self._l2_ttl_ms)
                stored = True
            except REDIS_DOWN as error:
                self._outage.failed(error)
        told = await self._bus.publish(CacheInvalidated(self.name, key))
        if not (stored and told):
            self._unsynced.add(key)  # replayed once Redis answers again

    def drop_local(self) -> None:
        """Forget everything in L1 (after missing invalidations)."""
        self._epoch += 1
        self._local.clear()

    def stats(self) -> CacheStats:
        return CacheStats(self._l1_hits, self._l2_hits, self._misses)

    def _on_event(self, event: Event, local: bool) -> None:
        if isinstance(event, CacheInvalidated) and event.cache == self.name and not local:
            self._epoch += 1
            self._local.pop(event.key, None)

    async def _read_l2(self, key: int) -> str | bytes | None:
        if self._outage.resting():
            return None
        try:
            await self._flush_unsynced()
            raw: str | bytes | None = await self._redis.get(self._key(key))
        except REDIS_DOWN as error:
            self._outage.failed(error)
            return None
        self._outage.ok()
        return raw

    async def _fill_l2(self, key: int, value: V) -> None:
        if self._outage.down:
            return  # the read just failed; try again on the next read
        try:
            await self._redis.set(self._key(key), self._encode(value), px=self._l2_ttl_ms, nx=True)
        except REDIS_DOWN as error:
            self._outage.failed(error)

    async def _flush_unsynced(self) -> None:
        """Writes made during an outage: drop their L2 entries and tell the others."""
        for key in list(self._unsynced):
            await self._redis.delete(self._key(key))
            if await self._bus.publish(CacheInvalidated(self.name, key)):
                self._unsynced.discard(key)
                log.info("replayed a %s cache invalidation for %s after an outage", self.name, key)
