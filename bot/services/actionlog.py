"""One log record for every moderation action and every refusal, its facts as fields.

The facts (guild, actor, target, action, case, outcome, ms) travel on the
record as `extra=` attributes, so `LOG_FORMAT=json` writes them as JSON fields
and the text format as `key=value` pairs after the message (`bot.logs`). A
command refused inside a service is logged there, with everything the service
knows; the command tree logs the refusals no service saw (`already_logged`).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from weakref import WeakSet

from bot.domain.metrics import Metrics

log = logging.getLogger("lockdown.actions")

_logged: WeakSet[BaseException] = WeakSet()


def record(
    *,
    action: str,
    outcome: str,
    guild: int | None,
    actor: int | None,
    target: int | None = None,
    case: int | None = None,
    started: float | None = None,
    refusal: BaseException | None = None,
    message: str | None = None,
    **more: object,
) -> None:
    """Log one action or refusal. `started` is its `time.perf_counter()` at the start;
    `refusal` is the error that refused it (its text is the reason given); `message`
    replaces the default "<action> <outcome>"."""
    fields: dict[str, object] = {
        "guild": guild,
        "actor": actor,
        "target": target,
        "action": action,
        "case": case,
        "outcome": outcome,
    }
    if started is not None:
        fields["ms"] = round((time.perf_counter() - started) * 1000, 1)
    if refusal is not None:
        fields["reason"] = str(refusal)
        _logged.add(refusal)
    fields.update(more)
    level = logging.WARNING if outcome == "error" else logging.INFO
    log.log(level, "%s", message or f"{action} {outcome}", extra=fields)


def finished(metrics: Metrics, *, action: str, outcome: str, started: float, **fields: Any) -> None:
    """An action's end, counted (by action and outcome, with its latency) and logged."""
    metrics.action_finished(action, outcome, time.perf_counter() - started)
    record(action=action, outcome=outcome, started=started, **fields)


def already_logged(error: BaseException) -> bool:
    """Whether a service already wrote the record for this refusal."""
    return error in _logged
