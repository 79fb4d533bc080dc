"""A guild's configured values (the registry of keys and defaults is domain code)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from bot.domain.models import Setting
from db.models import SettingRow, table_of
from db.repositories._sql import Repository

settings = table_of(SettingRow)


class SettingRepository(Repository):
    """Every method is scoped by `guild_id`."""

    async def all(self, guild_id: int) -> dict[str, Setting]:
        result = await self._execute(select(*settings.c).where(settings.c.guild_id == guild_id))
        return {row.key: Setting(**row._mapping) for row in result}

    async def get(self, guild_id: int, key: str) -> Setting | None:
        result = await self._execute(
            select(*settings.c).where(settings.c.guild_id == guild_id, settings.c.key == key)
        )
        row = result.first()
        return None if row is None else Setting(**row._mapping)

    async def set(
        self, guild_id: int, key: str, value: Any, *, actor_id: int, now: datetime
    ) -> Setting:
        statement = self._upsert(settings).values(
            guild_id=guild_id, key=key, value=value, updated_by=actor_id, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[settings.c.guild_id, settings.c.key],
            set_={"value": value, "updated_by": actor_id, "updated_at": now},
        ).returning(*settings.c)
        result = await self._write(guild_id, statement)
        return Setting(**result.one()._mapping)

    async def delete(self, guild_id: int, key: str) -> Setting | None:
        """Remove a value so the default applies again; returns what was removed."""
        result = await self._execute(
            delete(settings)
            .where(settings.c.guild_id == guild_id, settings.c.key == key)
            .returning(*settings.c)
        )
        row = result.first()
        return None if row is None else Setting(**row._mapping)
