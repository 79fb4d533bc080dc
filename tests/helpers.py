"""Small helpers several test modules share."""

from __future__ import annotations

from bot.domain.models import Case, NewCase
from db.engine import Database


async def record(database: Database, guild_id: int, new: NewCase) -> Case:
    """Record one case on its own, as a service does for a warning (the fast path)."""
    async with database.autocommit() as uow:
        return await uow.cases.create(guild_id, new)
