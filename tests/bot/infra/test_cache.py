"""The configuration cache: L1 in the process, L2 in Redis, coherent through the
event bus; and what happens when Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from bot.domain.config import GuildConfig
from bot.infra.cache import MemoryCache, TieredCache
from bot.infra.clock import Monotonic
from bot.infra.events import RedisEventBus
from bot.infra.redis_client import Outage, redis_for_commands, redis_for_subscriptions
from tests.conftest import REDIS_URL
from tests.fake_clock import FakeMonotonic
from tests.redis_server import PrivateRedis, ready


@dataclass
class Source:
    """Stands in for the database: counts loads, can be changed."""

    values: dict[int, GuildConfig] = field(default_factory=dict)
    loads: int = 0

    def loader(self, key: int) -> Callable[[], Awaitable[GuildConfig]]:
        async def load() -> GuildConfig:
            self.loads += 1
            return self.values.get(key, GuildConfig())

        return load


class Process:
    """One bot process's view: its own clients, bus and cache."""

    def __init__(self, url: str, name: str, *, monotonic: Monotonic = time.monotonic) -> None:
        self.redis = redis_for_commands(url)
        self.bus = RedisEventBus(
            self.redis, redis_for_subscriptions(url), channel=f"{name}:ev", monotonic=monotonic
        )
        self.cache = TieredCache(
            name, self.redis, self.bus, encode=GuildConfig.to_json, decode=GuildConfig.from_json,
            monotonic=monotonic,
        )  # fmt: skip

    async def close(self) -> None:
        await self.bus.close()
        await self.redis.aclose()


@pytest.fixture
async def two_processes(redis_client: object) -> AsyncIterator[tuple[Process, Process]]:
    name = f"test{secrets.token_hex(4)}"
    first, second = Process(REDIS_URL, name), Process(REDIS_URL, name)
    await first.bus.start()
    await second.bus.start()
    yield first, second
    await first.close()
    await second.close()


async def until(condition: Callable[[], bool]) -> None:
    """Poll a condition another process's message will make true (within 5 s)."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the change arrives from Redis, not an Event
            await asyncio.sleep(0.005)


def test_a_configuration_survives_the_shared_cache_form() -> None:
    config = GuildConfig(
        modlog_channel_id=12, moderator_role_ids=(3, 4), appeal_text="write us",
        warn_expiry_seconds=86_400, disabled_features=frozenset({"escalation"}),
    )  # fmt: skip
    assert GuildConfig.from_json(config.to_json()) == config
    assert GuildConfig.from_json(GuildConfig().to_json()) == GuildConfig()


async def test_memory_cache_counts_hits_and_misses_and_takes_writes() -> None:
    cache, source = MemoryCache[GuildConfig](), Source()
    await cache.get_or_load(1, source.loader(1))
    await cache.get_or_load(1, source.loader(1))
    await cache.put(1, GuildConfig(retention_days=5))
    assert (await cache.get_or_load(1, source.loader(1))).retention_days == 5
    stats = cache.stats()
    assert (stats.l1_hits, stats.l2_hits, stats.misses, source.loads) == (2, 0, 1, 1)


async def test_memory_cache_entries_last_their_ttl() -> None:
    clock, source = FakeMonotonic(), Source()
    cache = MemoryCache[GuildConfig](60, monotonic=clock)
    await cache.get_or_load(1, source.loader(1))
    clock.advance(59)
    await cache.get_or_load(1, source.loader(1))
    assert source.loads == 1
    clock.advance(1)
    await cache.get_or_load(1, source.loader(1))
    assert source.loads == 2  # gone once its TTL is up


async def test_l1_holds_an_entry_for_its_ttl_then_asks_redis_again(redis_client: object) -> None:
    clock, source = FakeMonotonic(), Source()
    process = Process(REDIS_URL, f"test{secrets.token_hex(4)}", monotonic=clock)  # L1: 60 s
    await process.bus.start()
    try:
        for elapsed in (0, 59, 1):
            clock.advance(elapsed)
            await process.cache.get_or_load(1, source.loader(1))
        stats = process.cache.stats()
        assert (stats.l1_hits, stats.l2_hits, stats.misses, source.loads) == (1, 1, 1, 1)
    finally:
        await process.close()


async def test_a_read_is_served_by_l1_then_l2_then_the_database(
    two_processes: tuple[Process, Process],
) -> None:
    first, second = two_processes
    source = Source({1: GuildConfig(retention_days=9)})
    assert (await first.cache.get_or_load(1, source.loader(1))).retention_days == 9
    assert (await first.cache.get_or_load(1, source.loader(1))).retention_days == 9
    assert (await second.cache.get_or_load(1, source.loader(1))).retention_days == 9
    assert source.loads == 1  # the second process found it in Redis
    assert (first.cache.stats().l1_hits, first.cache.stats().misses) == (1, 1)
    assert (second.cache.stats().l2_hits, second.cache.stats().misses) == (1, 0)
    ttl = await first.redis.pttl(f"lockdown:cache:{first.cache.name}:1")
    assert 0 < ttl <= 600_000  # ephemeral: the database is the source of truth


async def test_a_write_in_one_process_reaches_the_others_next_read(
    two_processes: tuple[Process, Process],
) -> None:
    first, second = two_processes
    source = Source()
    for process in (first, second):
        await process.cache.get_or_load(1, source.loader(1))  # both hold it in L1
    source.values[1] = GuildConfig(antinuke_actions=3)
    await first.cache.put(1, source.values[1])
    await until(lambda: second.bus.received >= 1)
    assert (await second.cache.get_or_load(1, source.loader(1))).antinuke_actions == 3
    assert (await first.cache.get_or_load(1, source.loader(1))).antinuke_actions == 3
    assert source.loads == 1  # the fresh value came from the writer through Redis


async def test_a_reader_that_loaded_before_a_write_cannot_overwrite_it(
    two_processes: tuple[Process, Process],
) -> None:
    """The race a read-through cache must not lose: B loads the old value, A
    commits and puts the new one, then B's fill arrives."""
    first, second = two_processes
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_old_load() -> GuildConfig:
        started.set()
        await release.wait()
        return GuildConfig(retention_days=1)  # what the database said before the write

    reading = asyncio.create_task(second.cache.get_or_load(1, slow_old_load))
    await started.wait()
    await first.cache.put(1, GuildConfig(retention_days=2))
    await until(lambda: second.bus.received >= 1)
    release.set()
    assert (await reading).retention_days == 1  # that read was already under way
    fresh = await second.cache.get_or_load(1, Source().loader(1))
    assert fresh.retention_days == 2  # but it landed in neither L1 nor L2
    assert second.cache.stats().l2_hits == 1


async def test_when_redis_is_away_reads_go_to_the_database_and_writes_catch_up(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.infra.redis_client")
    clock = FakeMonotonic()
    first = Process(private_redis.url, "config", monotonic=clock)
    second = Process(private_redis.url, "config", monotonic=clock)
    await first.bus.start()
    await second.bus.start()
    source = Source()
    try:
        await second.cache.get_or_load(1, source.loader(1))  # B holds the old value
        private_redis.stop()
        source.values[1] = GuildConfig(retention_days=4)
        await first.cache.put(1, source.values[1])  # committed, but Redis cannot hear it
        assert (await first.cache.get_or_load(2, source.loader(2))) == GuildConfig()
        assert source.loads == 2  # read through to the database, no hang, no error
        warnings = [r.message for r in caplog.records if "Redis unreachable" in r.message]
        assert sum("config cache" in w for w in warnings) == 1

        private_redis.start()
        await ready(first.redis)
        # B's subscriber reconnects and drops its L1: it missed the invalidation.
        await until(lambda: not second.cache._local)
        clock.advance(Outage.RETRY_AFTER)  # A rests a moment after its failure, then tries
        assert (await first.cache.get_or_load(3, source.loader(3))) == GuildConfig()
        # A's next Redis round trip replays the write it could not pass on.
        await until(lambda: second.bus.received >= 1)
        assert (await second.cache.get_or_load(1, source.loader(1))).retention_days == 4
        assert any("Redis is back" in r.message for r in caplog.records)
    finally:
        await first.close()
        await second.close()
