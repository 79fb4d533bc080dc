"""The moderator's door: one action, then, for a warning, the escalation ladder.

Slash commands (and later automod and raid responses) come through `act`, so
an action always takes the same path and a warning always escalates.
"""

from __future__ import annotations

from bot.domain.lifecycle import Action
from bot.services.acting import ActingService, ActionRequest, Outcome
from bot.services.escalation import EscalationService


class ModerationService:
    def __init__(self, acting: ActingService, escalation: EscalationService) -> None:
        self._acting = acting
        self._escalation = escalation

    async def act(self, request: ActionRequest) -> Outcome:
        """Carry out one action end to end; raises a `LockdownError` with a clear message."""
        outcome = await self._acting.act(request)
        if outcome.case.type is Action.WARN:
            outcome = await self._escalation.after_warning(request, outcome)
        return outcome
