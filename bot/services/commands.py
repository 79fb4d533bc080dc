"""Whether the slash commands need syncing: Discord limits command creation per day,
so a restart with the same commands must not spend any of it."""

from __future__ import annotations

from bot.domain.ports import Clock
from db.engine import Database


class CommandSyncState:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def unchanged(self, target: str, digest: str) -> bool:
        """The tree with this digest is what was last synced to `target`."""
        async with self._database.autocommit() as uow:
            return await uow.state.get(target) == digest

    async def synced(self, target: str, digest: str) -> None:
        async with self._database.autocommit() as uow:
            await uow.state.set(target, digest, now=self._clock.now())
