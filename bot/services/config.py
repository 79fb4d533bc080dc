"""Reading and changing a guild's configuration, audited and cached."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.cache import Cache
from bot.domain.config import GuildConfig
from bot.domain.ports import Clock
from db.engine import Database


class ConfigService:
    def __init__(self, database: Database, cache: Cache[GuildConfig], clock: Clock) -> None:
        self._database = database
        self._cache = cache
        self._clock = clock

    async def get(self, guild_id: int) -> GuildConfig:
        return await self._cache.get_or_load(guild_id, lambda: self._load(guild_id))

    async def _load(self, guild_id: int) -> GuildConfig:
        async with self._database.autocommit() as uow:
            stored = await uow.settings.all(guild_id)
        return GuildConfig.from_stored({key: s.value for key, s in stored.items()})

    async def set(self, guild_id: int, key: str, value: Any, *, actor_id: int) -> GuildConfig:
        """Store one setting and its audit entry in one transaction."""
        if key not in asdict(GuildConfig()):
            raise KeyError(key)
        now = self._clock.now()
        async with self._database.transaction() as uow:
            before = await uow.settings.get(guild_id, key)
            await uow.settings.set(guild_id, key, value, actor_id=actor_id, now=now)
            await uow.audit.add(
                guild_id,
                actor_id=actor_id,
                action="config.set",
                entity="setting",
                entity_id=key,
                before=None if before is None else {"value": before.value},
                after={"value": value},
                now=now,
            )
        await self._cache.invalidate(guild_id)
        return await self.get(guild_id)
