"""Feature flags a guild has set explicitly (defaults live in domain code)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.domain.models import FeatureFlag
from db.models import FeatureFlagRow, table_of
from db.repositories._sql import Repository

flags = table_of(FeatureFlagRow)


class FeatureFlagRepository(Repository):
    """Every method is scoped by `guild_id`."""

    async def all(self, guild_id: int) -> dict[str, FeatureFlag]:
        result = await self._execute(select(*flags.c).where(flags.c.guild_id == guild_id))
        return {row.name: FeatureFlag(**row._mapping) for row in result}

    async def set(
        self, guild_id: int, name: str, enabled: bool, *, actor_id: int, now: datetime
    ) -> FeatureFlag:
        statement = self._upsert(flags).values(
            guild_id=guild_id, name=name, enabled=enabled, updated_by=actor_id, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[flags.c.guild_id, flags.c.name],
            set_={"enabled": enabled, "updated_by": actor_id, "updated_at": now},
        ).returning(*flags.c)
        result = await self._write(guild_id, statement)
        return FeatureFlag(**result.one()._mapping)
