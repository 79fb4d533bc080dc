"""What the processes of one bot share: Redis when `REDIS_URL` is set, this process otherwise.

One place decides, so the bot, the command line and the tests build the same
thing: a rate limiter, cooldowns, the configuration cache and the event bus,
each behind its interface.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from bot.domain.config import GuildConfig
from bot.domain.metrics import NO_METRICS, Metrics
from bot.infra.cache import Cache, MemoryCache, TieredCache
from bot.infra.events import EventBus, MemoryEventBus, RedisEventBus
from bot.infra.limits import (
    Cooldowns,
    MemoryCooldowns,
    MemoryRateLimiter,
    RateLimiter,
    RedisCooldowns,
    RedisRateLimiter,
)
from bot.infra.redis_client import redis_for_commands, redis_for_subscriptions


@dataclass
class Shared:
    limiter: RateLimiter
    cooldowns: Cooldowns
    config_cache: Cache[GuildConfig]
    bus: EventBus
    redis: Redis | None = None

    @property
    def uses_redis(self) -> bool:
        return self.redis is not None

    async def start(self) -> None:
        await self.bus.start()

    async def close(self) -> None:
        await self.bus.close()
        if self.redis is not None:
            await self.redis.aclose()


def shared_state(redis_url: str | None, metrics: Metrics = NO_METRICS) -> Shared:
    if redis_url is None:
        return Shared(
            limiter=MemoryRateLimiter(),
            cooldowns=MemoryCooldowns(),
            config_cache=MemoryCache[GuildConfig](metrics=metrics),
            bus=MemoryEventBus(),
        )
    redis = redis_for_commands(redis_url)
    bus = RedisEventBus(redis, redis_for_subscriptions(redis_url), metrics=metrics)
    return Shared(
        limiter=RedisRateLimiter(redis, metrics=metrics),
        cooldowns=RedisCooldowns(redis, metrics=metrics),
        config_cache=TieredCache(
            "config",
            redis,
            bus,
            encode=GuildConfig.to_json,
            decode=GuildConfig.from_json,
            metrics=metrics,
        ),
        bus=bus,
        redis=redis,
    )
