"""The escalation ladder: server managers add and remove rungs, each change (and each
refused attempt) in the change log."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.access import SEE_CONFIGURATION, Participant, require
from bot.domain.errors import LockdownError
from bot.domain.lifecycle import Action
from bot.domain.models import EscalationPolicy
from bot.domain.ports import Clock
from bot.services.config import check_configurer
from db.engine import Database

MAX_THRESHOLD = 50
LADDER_ACTIONS = (Action.MUTE, Action.KICK, Action.BAN)


class PolicyRefused(LockdownError):
    pass


def describe_policy(policy: EscalationPolicy) -> dict[str, object]:
    return {
        "threshold": policy.threshold,
        "action": policy.action.value,
        "duration_seconds": policy.duration_seconds,
        "window_seconds": policy.window_seconds,
    }


class PolicyService:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def list(self, guild_id: int, *, actor: Participant) -> list[EscalationPolicy]:
        require(SEE_CONFIGURATION, actor)
        async with self._database.autocommit() as uow:
            return await uow.policies.list(guild_id)

    async def add(
        self,
        guild_id: int,
        *,
        threshold: int,
        action: Action,
        duration: timedelta | None,
        window: timedelta | None,
        actor: Participant,
    ) -> EscalationPolicy:
        """Add a rung; raises `NotAllowed`, `PolicyRefused` or `PolicyExists` with a
        clear message."""
        await check_configurer(
            self._database,
            self._clock,
            guild_id,
            actor,
            entity="policy",
            entity_id="new",
            attempted={"threshold": threshold, "action": action.value},
        )
        if not 1 <= threshold <= MAX_THRESHOLD:
            raise PolicyRefused(f"The threshold must be between 1 and {MAX_THRESHOLD} warnings.")
        if action not in LADDER_ACTIONS:
            raise PolicyRefused("The action must be mute, kick or ban.")
        if action is Action.MUTE and duration is None:
            raise PolicyRefused("A mute needs a duration.")
        if action is Action.KICK and duration is not None:
            raise PolicyRefused("A kick has no duration.")
        now = self._clock.now()
        async with self._database.transaction() as uow:
            policy = await uow.policies.add(
                guild_id,
                threshold=threshold,
                action=action,
                duration_seconds=int(duration.total_seconds()) if duration else None,
                window_seconds=int(window.total_seconds()) if window else None,
                created_by=actor.id,
                now=now,
            )
            await uow.changes.add(
                guild_id,
                actor_id=actor.id,
                action="policy.add",
                entity="policy",
                entity_id=str(policy.id),
                before=None,
                after=describe_policy(policy),
                now=now,
            )
        return policy

    async def remove(
        self, guild_id: int, policy_id: int, *, actor: Participant
    ) -> EscalationPolicy:
        await check_configurer(
            self._database, self._clock, guild_id, actor, entity="policy", entity_id=str(policy_id)
        )
        now = self._clock.now()
        async with self._database.transaction() as uow:
            removed = await uow.policies.remove(guild_id, policy_id)
            if removed is None:
                raise PolicyRefused(f"There is no policy #{policy_id} in this server.")
            await uow.changes.add(
                guild_id,
                actor_id=actor.id,
                action="policy.remove",
                entity="policy",
                entity_id=str(policy_id),
                before=describe_policy(removed),
                after=None,
                now=now,
            )
        return removed
