"""Which guilds the bot has left: the retention job's one cross-guild read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import GuildRow, table_of

guilds = table_of(GuildRow)


class DepartedGuilds:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def left_before(self, cutoff: datetime) -> list[tuple[int, datetime]]:
        """Guilds left before `cutoff`, with when they were left, oldest first."""
        result = await self._connection.execute(
            select(guilds.c.id, guilds.c.left_at)
            .where(guilds.c.left_at.is_not(None), guilds.c.left_at < cutoff)
            .order_by(guilds.c.left_at)
        )
        return [(row.id, row.left_at) for row in result]
