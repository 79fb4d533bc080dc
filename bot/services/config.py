"""Reading and changing a guild's configuration: allowed, validated, logged in the
change log, and cached."""

from __future__ import annotations

import logging
from typing import Any

from bot.domain.access import CONFIGURE, SEE_CONFIGURATION, NotAllowed, Participant, require
from bot.domain.config import GuildConfig, check_feature, check_key, check_value
from bot.domain.errors import DatabaseUnavailable
from bot.domain.ports import Clock
from bot.infra.cache import Cache
from db.engine import Database
from db.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

#: The change-log action of a configuration change someone was not allowed to make.
REFUSED = "config.refused"
#: The entity id of a refused `/config reset` of every setting.
EVERY_SETTING = "*"


async def check_configurer(
    database: Database,
    clock: Clock,
    guild_id: int,
    actor: Participant,
    *,
    entity: str,
    entity_id: str,
    attempted: dict[str, Any] | None = None,
) -> None:
    """Raise `NotAllowed` unless `actor` may change the configuration (Manage Server).

    A refused attempt goes to the change log first (entity "setting", "feature"
    or "policy"; `after` holds the reason and what was `attempted`, if given), so
    the server's managers see who tried to change what.
    """
    try:
        require(CONFIGURE, actor)
    except NotAllowed as refusal:
        try:
            async with database.transaction() as uow:
                await uow.changes.add(
                    guild_id,
                    actor_id=actor.id,
                    action=REFUSED,
                    entity=entity,
                    entity_id=entity_id,
                    before=None,
                    after={"reason": str(refusal), **(attempted or {})},
                    now=clock.now(),
                )
        except DatabaseUnavailable:
            log.warning("could not record a refused change of %s %s", entity, entity_id)
        raise


class ConfigService:
    def __init__(self, database: Database, cache: Cache[GuildConfig], clock: Clock) -> None:
        self._database = database
        self._cache = cache
        self._clock = clock

    async def get(self, guild_id: int) -> GuildConfig:
        """The effective configuration; served from the cache, which every write refreshes."""
        return await self._cache.get_or_load(guild_id, lambda: self._load(guild_id))

    async def read(self, guild_id: int, *, actor: Participant) -> GuildConfig:
        """The configuration as shown to a person (`/config show`, `/feature list`)."""
        require(SEE_CONFIGURATION, actor)
        return await self.get(guild_id)

    async def authorize(
        self, guild_id: int, actor: Participant, *, entity: str = "setting", entity_id: str
    ) -> None:
        """Raise `NotAllowed` unless `actor` may change the configuration, recording a
        refusal; every write checks this itself, and a command that validates its
        input first (against Discord) calls it before, so a refusal comes first."""
        await check_configurer(
            self._database, self._clock, guild_id, actor, entity=entity, entity_id=entity_id
        )

    async def _load(self, guild_id: int) -> GuildConfig:
        async with self._database.autocommit() as uow:
            stored = await uow.settings.all(guild_id)
            flags = await uow.features.all(guild_id)
        return GuildConfig.from_stored(
            {key: s.value for key, s in stored.items()},
            {name: f.enabled for name, f in flags.items()},
        )

    async def set(self, guild_id: int, key: str, value: Any, *, actor: Participant) -> GuildConfig:
        """Store one setting and its change-log entry in one transaction.

        Raises `UnknownSetting`, `NotAllowed` (recorded) or `SettingOutOfRange`.
        """
        check_key(key)
        await self.authorize(guild_id, actor, entity_id=key)
        check_value(key, value)
        actor_id = actor.id
        async with self._database.transaction() as uow:
            before = await uow.settings.get(guild_id, key)
            await uow.settings.set(guild_id, key, value, actor_id=actor_id, now=self._clock.now())
            await self._log_change(
                uow,
                guild_id,
                actor_id,
                "config.set",
                entity_id=key,
                before=None if before is None else {"value": before.value},
                after={"value": value},
            )
        return await self.refresh(guild_id)

    async def reset(
        self, guild_id: int, key: str | None = None, *, actor: Participant
    ) -> GuildConfig:
        """Forget what was set (one key, or every key), so the defaults apply again."""
        if key is not None:
            check_key(key)
        await self.authorize(guild_id, actor, entity_id=EVERY_SETTING if key is None else key)
        actor_id = actor.id
        async with self._database.transaction() as uow:
            keys = [key] if key is not None else list(await uow.settings.all(guild_id))
            for name in keys:
                removed = await uow.settings.delete(guild_id, name)
                if removed is not None:
                    await self._log_change(
                        uow,
                        guild_id,
                        actor_id,
                        "config.reset",
                        entity_id=name,
                        before={"value": removed.value},
                        after=None,
                    )
        return await self.refresh(guild_id)

    async def set_feature(
        self, guild_id: int, name: str, enabled: bool, *, actor: Participant
    ) -> GuildConfig:
        check_feature(name)
        await self.authorize(guild_id, actor, entity="feature", entity_id=name)
        actor_id = actor.id
        before = (await self.get(guild_id)).enabled(name)
        async with self._database.transaction() as uow:
            await uow.features.set(
                guild_id, name, enabled, actor_id=actor_id, now=self._clock.now()
            )
            await self._log_change(
                uow,
                guild_id,
                actor_id,
                "feature.set",
                entity_id=name,
                before={"enabled": before},
                after={"enabled": enabled},
            )
        return await self.refresh(guild_id)

    async def refresh(self, guild_id: int) -> GuildConfig:
        """After a committed write: the fresh configuration, passed to every process's cache."""
        fresh = await self._load(guild_id)
        await self._cache.put(guild_id, fresh)
        return fresh

    async def _log_change(
        self,
        uow: UnitOfWork,
        guild_id: int,
        actor_id: int,
        action: str,
        *,
        entity_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Who changed which setting or feature, from what to what."""
        await uow.changes.add(
            guild_id,
            actor_id=actor_id,
            action=action,
            entity="feature" if action.startswith("feature") else "setting",
            entity_id=entity_id,
            before=before,
            after=after,
            now=self._clock.now(),
        )
