"""Escalation ladders: which automatic action a number of warnings triggers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select

from bot.domain.errors import GuildNotFound, PolicyExists
from bot.domain.lifecycle import Action
from bot.domain.models import EscalationPolicy
from db.models import EscalationPolicyRow, table_of
from db.repositories._sql import INTEGRITY_ERRORS, Repository, is_foreign_key_error

policies = table_of(EscalationPolicyRow)
_COLUMNS = [policies.c[name] for name in EscalationPolicy.__slots__]


def _to_policy(row: Row[Any]) -> EscalationPolicy:
    return EscalationPolicy(**{**row._mapping, "action": Action(row.action)})


class PolicyRepository(Repository):
    """Every method is scoped by `guild_id`."""

    async def list(self, guild_id: int) -> list[EscalationPolicy]:
        """The ladder, lowest threshold first."""
        result = await self._execute(
            select(*_COLUMNS).where(policies.c.guild_id == guild_id).order_by(policies.c.threshold)
        )
        return [_to_policy(row) for row in result]

    async def add(
        self,
        guild_id: int,
        *,
        threshold: int,
        action: Action,
        duration_seconds: int | None,
        window_seconds: int | None,
        created_by: int,
        now: datetime,
    ) -> EscalationPolicy:
        """Add a rung; raises `PolicyExists` if the threshold already has one."""
        statement = (
            insert(policies)
            .values(
                guild_id=guild_id,
                threshold=threshold,
                action=action.value,
                duration_seconds=duration_seconds,
                window_seconds=window_seconds,
                created_by=created_by,
                created_at=now,
            )
            .returning(*_COLUMNS)
        )
        try:
            result = await self._execute(statement)
        except INTEGRITY_ERRORS as error:
            if is_foreign_key_error(error):
                raise GuildNotFound(guild_id) from None
            raise PolicyExists(guild_id, threshold) from None
        return _to_policy(result.one())

    async def remove(self, guild_id: int, policy_id: int) -> EscalationPolicy | None:
        result = await self._execute(
            delete(policies)
            .where(policies.c.guild_id == guild_id, policies.c.id == policy_id)
            .returning(*_COLUMNS)
        )
        row = result.first()
        return None if row is None else _to_policy(row)
