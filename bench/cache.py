"""The configuration cache: an L1 hit, and how fast a write reaches another process.

Targets (issue: Redis): a cached configuration read costs under 5 µs on an L1
hit; pub/sub invalidation reaches another process within 5 ms p99 on loopback.

- L1 hit: `ConfigService.get` on a warm `TieredCache`, against the floor of an
  awaited coroutine doing one dictionary lookup (what any async cache costs).
- Invalidation: this process `put`s a fresh value (Redis SET, then PUBLISH);
  a second OS process, running the same `TieredCache` and event bus, notes when
  its handler dropped the entry. The floor is bare redis-py: PUBLISH here, a
  bare subscriber there. Both processes read `time.perf_counter_ns()`, which is
  CLOCK_MONOTONIC on Linux and so comparable across processes. Writes are
  spaced 2 ms apart, as real configuration writes never queue up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

from bench.common import median, percentile
from bot.domain.config import GuildConfig
from bot.infra.cache import MemoryCache, TieredCache
from bot.infra.clock import SystemClock
from bot.infra.events import CacheInvalidated, Event, RedisEventBus
from bot.infra.redis_client import redis_for_commands, redis_for_subscriptions
from bot.services.config import ConfigService
from db.engine import Database

REDIS_URL = os.environ.get("LOCKDOWN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent


class Process:
    """One process's cache and event bus, as the bot builds them."""

    def __init__(self, name: str, url: str) -> None:
        self.redis = redis_for_commands(url)
        channel = f"lockdown:bench:{name}"
        self.bus = RedisEventBus(self.redis, redis_for_subscriptions(url), channel=channel)
        self.cache = TieredCache(
            name, self.redis, self.bus, encode=GuildConfig.to_json, decode=GuildConfig.from_json
        )

    async def close(self) -> None:
        await self.bus.close()
        await self.redis.aclose()


async def l1_hit(calls: int, rounds: int) -> dict[str, float]:
    """Median seconds per call over rounds."""
    name = f"bench{secrets.token_hex(3)}"
    process = Process(name, REDIS_URL)
    await process.bus.start()
    # Never read: every timed call is a hit of a value put there first.
    unused = Database("sqlite+aiosqlite://")
    config = ConfigService(unused, process.cache, SystemClock())
    memory_cache = MemoryCache[GuildConfig]()
    memory = ConfigService(unused, memory_cache, SystemClock())
    await process.cache.put(1, GuildConfig())
    await memory_cache.put(1, GuildConfig())
    table = {1: GuildConfig()}

    async def floor(key: int) -> GuildConfig:
        return table[key]

    contenders = {"floor": floor, "tiered": config.get, "memory": memory.get}
    samples: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(rounds):
        for label, get in contenders.items():
            start = time.perf_counter()
            for _ in range(calls):
                await get(1)
            samples[label].append((time.perf_counter() - start) / calls)
    assert process.cache.stats().misses == memory_cache.stats().misses == 0, "L1 hits only"
    await process.close()
    await unused.dispose()
    return {label: median(values) for label, values in samples.items()}


async def child(name: str) -> None:
    """The other process: report when each invalidation (and each bare message) arrived."""
    process = Process(name, REDIS_URL)
    out = sys.stdout

    def heard(event: Event, local: bool) -> None:
        if isinstance(event, CacheInvalidated) and not local:
            out.write(f"tiered {event.key} {time.perf_counter_ns()}\n")
            out.flush()

    process.bus.subscribe(heard)  # after the cache's own handler: the entry is gone by now
    await process.bus.start()
    bare = Redis.from_url(REDIS_URL)
    async with bare.pubsub() as pubsub:
        await pubsub.subscribe(f"lockdown:bench:{name}:bare")
        out.write("ready\n")
        out.flush()
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is None:
                continue
            if message["data"] == b"stop":
                break
            out.write(f"bare {int(message['data'])} {time.perf_counter_ns()}\n")
            out.flush()
    await process.close()
    await bare.aclose()


async def invalidation(count: int) -> dict[str, list[float]]:
    """Milliseconds from write to the other process, per write."""
    name = f"bench{secrets.token_hex(3)}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.cache", "--child", name,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert process.stdout is not None
    assert (await process.stdout.readline()).strip() == b"ready"
    writer = Process(name, REDIS_URL)
    await writer.bus.start()
    bare = Redis.from_url(REDIS_URL)
    sent: dict[tuple[str, int], int] = {}
    for key in range(count):
        sent[("tiered", key)] = time.perf_counter_ns()
        await writer.cache.put(key, GuildConfig(retention_days=1 + key % 300))
        await asyncio.sleep(0.002)
        sent[("bare", key)] = time.perf_counter_ns()
        await bare.publish(f"lockdown:bench:{name}:bare", str(key))
        await asyncio.sleep(0.002)
    await bare.publish(f"lockdown:bench:{name}:bare", "stop")
    lines = (await process.stdout.read()).decode().split()
    await process.wait()
    latencies: dict[str, list[float]] = {"tiered": [], "bare": []}
    for kind, key, at in zip(lines[0::3], lines[1::3], lines[2::3], strict=True):
        latencies[kind].append((int(at) - sent[(kind, int(key))]) / 1e6)
    await writer.close()
    await bare.aclose()
    assert all(len(v) == count for v in latencies.values()), "a message was lost"
    return latencies


async def main(*, calls: int = 100_000, rounds: int = 9, writes: int = 2_000) -> dict[str, object]:
    hit = await l1_hit(calls, rounds)
    print("Config cache, L1 hit (median of rounds, per call)")
    print(f"  floor (awaited dict lookup)   {hit['floor'] * 1e6:6.2f} µs")
    print(
        f"  ConfigService.get, tiered     {hit['tiered'] * 1e6:6.2f} µs "
        f"({hit['tiered'] / hit['floor']:.2f}x)   target < 5 µs"
    )
    print(f"  ConfigService.get, memory     {hit['memory'] * 1e6:6.2f} µs")
    reach = await invalidation(writes)
    print(f"Invalidation reaching another process, {writes} writes (ms)")
    for kind, label in (("bare", "floor: bare PUBLISH"), ("tiered", "TieredCache.put")):
        values = reach[kind]
        print(
            f"  {label:22} p50 {percentile(values, 0.5):.3f}  p99 {percentile(values, 0.99):.3f}"
            f"  max {max(values):.3f}"
        )
    p99 = percentile(reach["tiered"], 0.99)
    print(f"  p99 ratio {p99 / percentile(reach['bare'], 0.99):.2f}x floor   target p99 < 5 ms")
    return {"l1": hit, "invalidation": reach}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--writes", type=int, default=2_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child))
    else:
        asyncio.run(main(calls=args.calls, rounds=args.rounds, writes=args.writes))
