"""Read-through caches behind one small interface (Redis backs it in multi-process runs)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

V = TypeVar("V")


class Cache(Protocol[V]):
    async def get_or_load(self, key: int, load: Callable[[], Awaitable[V]]) -> V: ...

    async def invalidate(self, key: int) -> None: ...


class MemoryCache(Generic[V]):
    """An in-process TTL cache with hit and miss counters.

    A write goes to the database and then calls `invalidate`, so this process
    never serves a value older than its own last write.
    """

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[int, tuple[float, V]] = {}
        self.hits = 0
        self.misses = 0

    async def get_or_load(self, key: int, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            self.hits += 1
            return entry[1]
        self.misses += 1
        value = await load()
        self._entries[key] = (time.monotonic() + self._ttl, value)
        return value

    async def invalidate(self, key: int) -> None:
        self._entries.pop(key, None)
