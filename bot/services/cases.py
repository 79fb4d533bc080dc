"""Reading the case log and correcting a case's reason."""

from __future__ import annotations

from bot.domain.errors import LockdownError
from bot.domain.models import Case
from bot.domain.ports import Clock
from bot.domain.reasons import clean_reason
from db.engine import Database


class EmptyReason(LockdownError):
    pass


class CaseService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def case(self, guild_id: int, number: int) -> Case:
        async with self._database.autocommit() as uow:
            return await uow.cases.require(guild_id, number)

    async def history(
        self, guild_id: int, target_id: int, *, limit: int = 10, before: int | None = None
    ) -> tuple[list[Case], int]:
        """A page of the target's cases (newest first) and how many there are."""
        async with self._database.autocommit() as uow:
            page = await uow.cases.history(guild_id, target_id, limit=limit, before=before)
            total = await uow.cases.count_for_target(guild_id, target_id)
        return page, total

    async def active_warnings(self, guild_id: int, target_id: int) -> list[Case]:
        async with self._database.autocommit() as uow:
            return await uow.cases.active_warnings(guild_id, target_id, now=self._clock.now())

    async def edit_reason(self, guild_id: int, number: int, reason: str, *, actor_id: int) -> Case:
        """Change a case's reason; the old and new reasons go to the change log."""
        cleaned = clean_reason(reason)
        if cleaned is None:
            raise EmptyReason("The new reason can't be empty.")
        async with self._database.transaction() as uow:
            before = await uow.cases.require(guild_id, number)
            after = await uow.cases.update_reason(guild_id, number, cleaned)
            await uow.changes.add(
                guild_id,
                actor_id=actor_id,
                action="case.reason",
                entity="case",
                entity_id=str(number),
                before={"reason": before.reason},
                after={"reason": after.reason},
                now=self._clock.now(),
            )
        return after
