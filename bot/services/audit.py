"""Reading a guild's audit trail (entries are written by the services that change things)."""

from __future__ import annotations

from bot.domain.models import AuditEntry
from db.engine import Database

MAX_RECENT = 25


class AuditService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def recent(self, guild_id: int, limit: int = 10) -> list[AuditEntry]:
        async with self._database.autocommit() as uow:
            return await uow.audit.recent(guild_id, limit=max(1, min(limit, MAX_RECENT)))
