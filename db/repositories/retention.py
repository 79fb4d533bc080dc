"""Which guilds the bot has left: the retention job's one cross-guild read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from db.models import GuildRow, table_of
from db.repositories._sql import Repository

guilds = table_of(GuildRow)


class DepartedGuilds(Repository):
    async def left_before(self, cutoff: datetime) -> list[tuple[int, datetime]]:
        """Guilds left before `cutoff`, with when they were left, oldest first."""
        result = await self._execute(
            select(guilds.c.id, guilds.c.left_at)
            .where(guilds.c.left_at.is_not(None), guilds.c.left_at < cutoff)
            .order_by(guilds.c.left_at)
        )
        return [(row.id, row.left_at) for row in result]
