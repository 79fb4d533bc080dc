"""Process-wide facts kept across restarts (not tenant data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from db.models import BotStateRow, table_of
from db.repositories._sql import Repository

state = table_of(BotStateRow)


class BotStateRepository(Repository):
    async def get(self, key: str) -> str | None:
        result = await self._execute(select(state.c.value).where(state.c.key == key))
        return result.scalar_one_or_none()

    async def set(self, key: str, value: str, *, now: datetime) -> None:
        statement = self._upsert(state).values(key=key, value=value, updated_at=now)
        await self._execute(
            statement.on_conflict_do_update(
                index_elements=[state.c.key], set_={"value": value, "updated_at": now}
            )
        )
