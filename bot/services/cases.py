"""Reading the case log and correcting a case's reason, for those allowed to."""

from __future__ import annotations

from bot.domain.access import CHANGE_CASES, READ_CASES, Participant, change_case, require
from bot.domain.errors import LockdownError
from bot.domain.models import Case
from bot.domain.ports import Clock
from bot.domain.reasons import clean_reason
from bot.services.config import ConfigService
from db.engine import Database


class EmptyReason(LockdownError):
    pass


class CaseService:
    def __init__(self, database: Database, config: ConfigService, clock: Clock) -> None:
        self._database = database
        self._config = config
        self._clock = clock

    async def _roles(self, guild_id: int) -> tuple[int, ...]:
        return (await self._config.get(guild_id)).moderator_role_ids

    async def _may_read(self, guild_id: int, actor: Participant) -> None:
        """Reading cases needs a moderation permission or a moderator role."""
        require(READ_CASES, actor, await self._roles(guild_id))

    async def case(self, guild_id: int, number: int, *, actor: Participant) -> Case:
        await self._may_read(guild_id, actor)
        async with self._database.autocommit() as uow:
            return await uow.cases.require(guild_id, number)

    async def history(
        self,
        guild_id: int,
        target_id: int,
        *,
        actor: Participant,
        limit: int = 10,
        before: int | None = None,
    ) -> tuple[list[Case], int]:
        """A page of the target's cases (newest first) and how many there are."""
        await self._may_read(guild_id, actor)
        async with self._database.autocommit() as uow:
            page = await uow.cases.history(guild_id, target_id, limit=limit, before=before)
            total = await uow.cases.count_for_target(guild_id, target_id)
        return page, total

    async def active_warnings(
        self, guild_id: int, target_id: int, *, actor: Participant
    ) -> list[Case]:
        await self._may_read(guild_id, actor)
        async with self._database.autocommit() as uow:
            return await uow.cases.active_warnings(guild_id, target_id, now=self._clock.now())

    async def edit_reason(
        self, guild_id: int, number: int, reason: str, *, actor: Participant
    ) -> Case:
        """Change a case's reason; the old and new reasons go to the change log.

        Needs the permission of the action the case records (Ban Members for a
        ban case), or a moderator role.
        """
        cleaned = clean_reason(reason)
        roles = await self._roles(guild_id)
        require(CHANGE_CASES, actor, roles)  # before saying whether the case exists
        async with self._database.transaction() as uow:
            if cleaned is None:
                raise EmptyReason("The new reason can't be empty.")
            before = await uow.cases.require(guild_id, number)
            require(change_case(before.type, "change the reason of"), actor, roles)
            after = await uow.cases.update_reason(guild_id, number, cleaned)
            await uow.changes.add(
                guild_id,
                actor_id=actor.id,
                action="case.reason",
                entity="case",
                entity_id=str(number),
                before={"reason": before.reason},
                after={"reason": after.reason},
                now=self._clock.now(),
            )
        return after
