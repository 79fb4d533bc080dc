"""The escalation ladder in action: warnings that add up apply the next rung.

A rung is applied through `ActingService`, the same path as a moderator's
command, with the bot as the moderator and the warning as the related case.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.errors import LockdownError
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.models import Case
from bot.services.acting import ActingService, ActionRequest, Outcome
from bot.services.config import ConfigService
from bot.services.modlog import ModLog
from db.engine import Database

ESCALATION_ACTOR = "Lockdown escalation"


class EscalationService:
    def __init__(
        self,
        database: Database,
        config: ConfigService,
        acting: ActingService,
        modlog: ModLog,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._database = database
        self._metrics = metrics
        self._config = config
        self._acting = acting
        self._modlog = modlog

    async def after_warning(self, request: ActionRequest, outcome: Outcome) -> Outcome:
        """Apply every rung this warning reaches; the outcome names what was done."""
        warning = outcome.case
        if not (await self._config.get(request.guild_id)).enabled("escalation"):
            return outcome
        done, failures = await self._escalate(request, warning)
        return replace(outcome, escalations=done, escalation_failures=failures)

    async def _escalate(
        self, request: ActionRequest, warning: Case
    ) -> tuple[tuple[Outcome, ...], tuple[str, ...]]:
        """A warning's count is its place among the member's warnings that still
        count, numbered up to and including itself. Case numbers are allocated in
        commit order, so that place is fixed however many warnings land at once,
        and each rung fires for exactly one warning.
        """
        async with self._database.autocommit() as uow:
            ladder = await uow.policies.list(request.guild_id)
            if not ladder:
                return (), ()
            counting = await uow.cases.active_warnings(
                request.guild_id, warning.target_id, now=warning.created_at
            )
        earlier = [w for w in counting if w.number <= warning.number]
        done: list[Outcome] = []
        failures: list[str] = []
        for policy in ladder:
            since = (
                warning.created_at - timedelta(seconds=policy.window_seconds)
                if policy.window_seconds
                else None
            )
            count = sum(1 for w in earlier if since is None or w.created_at >= since)
            if count != policy.threshold:
                continue
            duration = policy.duration_seconds
            rung = ActionRequest(
                guild_id=request.guild_id,
                guild_name=request.guild_name,
                action=policy.action,
                scene=replace(request.scene, actor=request.scene.bot),
                actor_name=ESCALATION_ACTOR,
                target_name=request.target_name,
                reason=f"{count} warnings reached policy #{policy.id} (case #{warning.number})",
                duration=timedelta(seconds=duration) if duration else None,
                related_number=warning.number,
            )
            try:
                done.append(await self._acting.act(rung))
                self._metrics.escalation_applied(policy.action.value)
            except LockdownError as error:
                why = f"escalation to {policy.action.value} (policy #{policy.id}) failed: {error}"
                failures.append(why)
                await self._modlog.post(
                    warning,
                    note=why,
                    target_name=request.target_name,
                    moderator_name=request.actor_name,
                )
        return tuple(done), tuple(failures)
