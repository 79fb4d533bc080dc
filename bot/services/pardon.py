"""Pardons: revoking a warning, or ending a ban or mute early (undoing it on Discord)."""

from __future__ import annotations

import time

from bot.domain.access import CHANGE_CASES, Participant, change_case, require
from bot.domain.errors import LockdownError
from bot.domain.lifecycle import Action
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.models import Case, NewCase
from bot.domain.ports import Clock, DiscordActions, DiscordFailure
from bot.domain.reasons import audit_reason, clean_reason
from bot.services import actionlog, enforcement
from bot.services.acting import ActionFailed, Outcome, explain
from bot.services.config import ConfigService
from bot.services.modlog import ModLog
from bot.services.names import NameBook
from bot.services.recording import end_and_record
from db.engine import Database


class NothingToUndo(LockdownError):
    """A pardon found nothing in force to end."""


class PardonService:
    def __init__(
        self,
        database: Database,
        discord: DiscordActions,
        config: ConfigService,
        clock: Clock,
        *,
        modlog: ModLog,
        names: NameBook,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._metrics = metrics
        self._database = database
        self._discord = discord
        self._config = config
        self._clock = clock
        self._modlog = modlog
        self._names = names

    async def pardon(
        self,
        guild_id: int,
        number: int,
        *,
        actor: Participant,
        actor_name: str,
        reason: str | None,
    ) -> Outcome:
        """End case `number`; the outcome's case is the pardon, `replaced` the ended case.

        Needs the permission of the action the case records (Ban Members to
        pardon a ban, Timeout Members for a mute or a warning), or a moderator role.
        """
        started = time.perf_counter()
        try:
            outcome = await self._pardon(
                guild_id, number, actor=actor, actor_name=actor_name, reason=reason
            )
        except LockdownError as refusal:
            outcome_name = "failed" if isinstance(refusal, ActionFailed) else "refused"
            actionlog.finished(
                self._metrics,
                action="pardon",
                outcome=outcome_name,
                guild=guild_id,
                actor=actor.id,
                started=started,
                refusal=refusal,
                pardoned=number,
            )
            raise
        actionlog.finished(
            self._metrics,
            action="pardon",
            outcome="done",
            target=outcome.case.target_id,
            case=outcome.case.number,
            started=started,
            guild=guild_id,
            actor=actor.id,
            pardoned=number,
        )
        return outcome

    async def _pardon(
        self,
        guild_id: int,
        number: int,
        *,
        actor: Participant,
        actor_name: str,
        reason: str | None,
    ) -> Outcome:
        cleaned = clean_reason(reason)
        config = await self._config.get(guild_id)
        roles = config.moderator_role_ids
        require(CHANGE_CASES, actor, roles)  # before saying whether the case exists
        async with self._database.autocommit() as uow:
            case = await uow.cases.require(guild_id, number)
        require(change_case(case.type, "pardon"), actor, roles)
        if not case.active:
            raise NothingToUndo(f"Case #{number} is no longer in force.")
        actor_id = actor.id
        self._names.remember(actor_id, actor_name)
        try:
            await enforcement.lift(
                self._discord, config, case, reason=audit_reason(actor_name, actor_id, cleaned)
            )
        except DiscordFailure as failure:
            undo = Action.UNBAN if case.type is Action.BAN else Action.UNMUTE
            raise ActionFailed(explain(undo, failure)) from None
        now = self._clock.now()
        async with self._database.transaction() as uow:
            recorded = await end_and_record(
                uow,
                guild_id,
                NewCase(
                    type=Action.PARDON,
                    target_id=case.target_id,
                    moderator_id=actor_id,
                    created_at=now,
                    reason=cleaned,
                    state=Action.PARDON.kind.confirmed_state,
                    related_number=number,
                ),
                revoked_by=actor_id,
                revoke_reason=cleaned,
                ending=number,
            )
            if recorded is not None:
                await uow.changes.add(
                    guild_id,
                    actor_id=actor_id,
                    action="case.pardon",
                    entity="case",
                    entity_id=str(number),
                    before={"active": True},
                    after={"active": False, "pardon_case": recorded.case.number},
                    now=now,
                )
        if recorded is None:
            raise NothingToUndo(f"Case #{number} was ended a moment ago.")
        self._metrics.case_recorded(Action.PARDON.value)
        pardon = recorded.case
        standing: list[Case] = []
        if case.type is Action.WARN:
            # Fewer warnings never lift a punishment by themselves; say so on the record.
            async with self._database.autocommit() as uow:
                for kind in (Action.BAN, Action.MUTE):
                    if found := await uow.cases.active(guild_id, case.target_id, kind):
                        standing.append(found)
        note = "; ".join(
            [f"pardons case #{number}"]
            + [f"the {c.type.value} of case #{c.number} stays in force" for c in standing]
        )
        posted = await self._modlog.post(pardon, note=note, moderator_name=actor_name)
        return Outcome(
            case=pardon,
            dm_delivered=None,
            replaced=recorded.ended,
            modlog_posted=posted,
            still_in_force=tuple(standing),
        )
