"""How a mute is enforced on Discord: a native timeout, or the guild's mute role.

Discord caps a timeout below 28 days. A longer mute either renews its timeout
(the timer loop does that) or, if the guild configured a mute role, wears the
role instead, which needs no renewal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.config import GuildConfig
from bot.domain.ports import ModerationGateway

#: Discord rejects a timeout of 28 days or more; stay clear of clock drift.
MAX_TIMEOUT = timedelta(days=28) - timedelta(hours=1)


def uses_role(config: GuildConfig, expires_at: datetime, now: datetime) -> bool:
    return config.mute_role_id is not None and expires_at > now + MAX_TIMEOUT


async def impose(
    gateway: ModerationGateway,
    config: GuildConfig,
    guild_id: int,
    user_id: int,
    *,
    expires_at: datetime,
    now: datetime,
    reason: str,
) -> None:
    """Mute until `expires_at` (or as far towards it as a timeout reaches)."""
    if uses_role(config, expires_at, now):
        assert config.mute_role_id is not None
        await gateway.add_role(guild_id, user_id, config.mute_role_id, reason=reason)
    else:
        until = min(expires_at, now + MAX_TIMEOUT)
        await gateway.timeout(guild_id, user_id, until=until, reason=reason)


async def lift(
    gateway: ModerationGateway, config: GuildConfig, guild_id: int, user_id: int, *, reason: str
) -> None:
    """End a mute however it was enforced (both calls are harmless if not needed)."""
    await gateway.timeout(guild_id, user_id, until=None, reason=reason)
    if config.mute_role_id is not None:
        await gateway.remove_role(guild_id, user_id, config.mute_role_id, reason=reason)
