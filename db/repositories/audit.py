"""The audit trail of configuration and case edits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.models import AuditEntry
from db.models import AuditEntryRow, table_of
from db.repositories._sql import write

entries = table_of(AuditEntryRow)
_COLUMNS = [entries.c[name] for name in AuditEntry.__slots__]


def _to_entry(row: Sequence[Any]) -> AuditEntry:
    return AuditEntry(*row)


class AuditRepository:
    """Every method is scoped by `guild_id`."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

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
    ) -> AuditEntry:
        result = await write(
            self._connection,
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

    async def recent(self, guild_id: int, *, limit: int = 10) -> list[AuditEntry]:
        """The newest entries first."""
        result = await self._connection.execute(
            select(*_COLUMNS)
            .where(entries.c.guild_id == guild_id)
            .order_by(entries.c.id.desc())
            .limit(limit)
        )
        return [_to_entry(row) for row in result]

    async def all(self, guild_id: int) -> list[AuditEntry]:
        """Every entry of the guild, oldest first (for exports)."""
        result = await self._connection.execute(
            select(*_COLUMNS).where(entries.c.guild_id == guild_id).order_by(entries.c.id)
        )
        return [_to_entry(row) for row in result]
