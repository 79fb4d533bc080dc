"""Reading a guild's change log (entries are written by the services that change things)."""

from __future__ import annotations

from bot.domain.models import Change
from db.engine import Database

MAX_RECENT = 25


class ChangeLogService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def recent(self, guild_id: int, limit: int = 10) -> list[Change]:
        async with self._database.autocommit() as uow:
            return await uow.changes.recent(guild_id, limit=max(1, min(limit, MAX_RECENT)))
