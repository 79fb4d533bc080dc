"""Reading a guild's change log (entries are written by the services that change things)."""

from __future__ import annotations

from bot.domain.access import READ_CHANGE_LOG, Participant, require
from bot.domain.models import Change
from db.engine import Database

MAX_RECENT = 25


class ChangeLogService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def recent(self, guild_id: int, limit: int = 10, *, actor: Participant) -> list[Change]:
        """The newest entries; only for those who may read the change log (Manage Server)."""
        require(READ_CHANGE_LOG, actor)
        async with self._database.autocommit() as uow:
            return await uow.changes.recent(guild_id, limit=max(1, min(limit, MAX_RECENT)))
