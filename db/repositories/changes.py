"""Lockdown's change log: who changed which setting or case, from what to what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select

from bot.domain.models import Change
from db.models import ChangeRow, table_of
from db.repositories._sql import Repository

entries = table_of(ChangeRow)
_COLUMNS = [entries.c[name] for name in Change.__slots__]


def _to_entry(row: Row[Any]) -> Change:
    return Change(**row._mapping)


class ChangeRepository(Repository):
    """Every method is scoped by `guild_id`."""

    async def add(
        self,
        guild_id: int,
        *,
        actor_id: int,
        action: str,
        entity: str,
        entity_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        now: datetime,
    ) -> Change:
        result = await self._write(
            guild_id,
            insert(entries)
            .values(
                guild_id=guild_id,
                actor_id=actor_id,
                action=action,
                entity=entity,
                entity_id=entity_id,
                before=before,
                after=after,
                created_at=now,
            )
            .returning(*_COLUMNS),
        )
        return _to_entry(result.one())

    async def recent(self, guild_id: int, *, limit: int = 10) -> list[Change]:
        """The newest entries first."""
        result = await self._execute(
            select(*_COLUMNS)
            .where(entries.c.guild_id == guild_id)
            .order_by(entries.c.id.desc())
            .limit(limit)
        )
        return [_to_entry(row) for row in result]

    async def all(self, guild_id: int) -> list[Change]:
        """Every entry of the guild, oldest first (for exports)."""
        result = await self._execute(
            select(*_COLUMNS).where(entries.c.guild_id == guild_id).order_by(entries.c.id)
        )
        return [_to_entry(row) for row in result]
