"""The command pace and cooldowns, on both backends."""

from __future__ import annotations

import secrets

import pytest
from redis.asyncio import Redis

from bot.infra.limits import MemoryCooldowns, MemoryRateLimiter, RedisCooldowns, RedisRateLimiter
from bot.services.throttle import CommandThrottle, Throttled


@pytest.fixture(params=["memory", "redis"])
def throttle(request: pytest.FixtureRequest) -> CommandThrottle:
    if request.param == "memory":
        return CommandThrottle(MemoryRateLimiter(), MemoryCooldowns(), limit=3, window=60)
    redis: Redis = request.getfixturevalue("redis_client")
    prefix = f"lockdown:test:{secrets.token_hex(4)}:"
    return CommandThrottle(
        RedisRateLimiter(redis, prefix=prefix), RedisCooldowns(redis, prefix=prefix),
        limit=3, window=60,
    )  # fmt: skip


async def test_a_user_gets_a_pace_across_guilds_then_a_wait(throttle: CommandThrottle) -> None:
    for guild_id in (1, 2, 1):
        await throttle.admit(user_id=10, guild_id=guild_id, command="warn")
    with pytest.raises(Throttled, match=r"too fast; try again in (59s|1m)\.$"):
        await throttle.admit(user_id=10, guild_id=2, command="case show")
    await throttle.admit(user_id=11, guild_id=1, command="warn")  # someone else is not slowed


async def test_a_cooldown_belongs_to_one_command_user_and_guild(throttle: CommandThrottle) -> None:
    await throttle.admit(user_id=10, guild_id=1, command="massban", cooldown=30)
    with pytest.raises(Throttled, match=r"`/massban` is cooling down .* try again in (29|30)s\."):
        await throttle.admit(user_id=10, guild_id=1, command="massban", cooldown=30)
    await throttle.admit(user_id=10, guild_id=2, command="massban", cooldown=30)
    await throttle.admit(user_id=20, guild_id=1, command="massban", cooldown=30)


async def test_bans_refused_for_pace_alert_once_per_window() -> None:
    alerts: list[tuple[int, int, str]] = []

    async def alert(guild_id: int, user_id: int, command: str) -> None:
        alerts.append((guild_id, user_id, command))

    throttle = CommandThrottle(
        MemoryRateLimiter(), MemoryCooldowns(), limit=2, window=60, on_burst=alert
    )
    for _ in range(2):
        await throttle.admit(user_id=10, guild_id=1, command="ban")
    for command in ("ban", "kick", "ban", "warn"):
        with pytest.raises(Throttled):
            await throttle.admit(user_id=10, guild_id=1, command=command)
    assert alerts == [(1, 10, "ban")]  # one alert, not one per refused command

    other = CommandThrottle(
        MemoryRateLimiter(), MemoryCooldowns(), limit=1, window=60, on_burst=alert
    )
    await other.admit(user_id=11, guild_id=1, command="warn")
    with pytest.raises(Throttled):
        await other.admit(user_id=11, guild_id=1, command="history")
    assert len(alerts) == 1  # reading fast is not the anti-nuke signal
