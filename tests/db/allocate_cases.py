"""Run as a separate process by the cross-process numbering test:
`python -m tests.db.allocate_cases URL GUILD_ID COUNT` records COUNT cases at once."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from bot.domain.lifecycle import Action
from bot.domain.models import NewCase
from db.engine import Database
from tests.helpers import record


async def main(url: str, guild_id: int, count: int) -> None:
    database = Database(url, pool_size=3, max_overflow=2)
    new = NewCase(Action.NOTE, target_id=1, moderator_id=2, created_at=datetime.now(UTC))

    async def one(index: int) -> int:
        if index % 2:
            return (await record(database, guild_id, new)).number
        async with database.transaction() as uow:
            return (await uow.cases.create(guild_id, new)).number

    numbers = await asyncio.gather(*(one(i) for i in range(count)))
    print(" ".join(map(str, numbers)))
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
