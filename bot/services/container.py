"""Every service a process uses, built once by the composition root (`bot.app`).

Cogs, the command line, the tests and the web process all take this one
object, so each has the same services wired the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.acting import ActingService
from bot.services.cases import CaseService
from bot.services.changes import ChangeLogService
from bot.services.commands import CommandSyncState
from bot.services.config import ConfigService
from bot.services.data import DataService
from bot.services.escalation import EscalationService
from bot.services.massban import MassBanService
from bot.services.moderation import ModerationService
from bot.services.names import NameBook
from bot.services.pardon import PardonService
from bot.services.policies import PolicyService
from bot.services.reconcile import ReconcileService
from bot.services.settling import IntentSettler
from bot.services.status import StatusService
from bot.services.throttle import CommandThrottle
from bot.services.timers import TimerService


@dataclass(frozen=True, slots=True)
class Services:
    config: ConfigService
    moderation: ModerationService  # one action, then escalation: what commands call
    acting: ActingService
    escalation: EscalationService
    massban: MassBanService
    pardons: PardonService
    cases: CaseService
    policies: PolicyService
    changes: ChangeLogService
    timers: TimerService
    reconcile: ReconcileService
    data: DataService
    throttle: CommandThrottle
    commands: CommandSyncState
    names: NameBook
    status: StatusService
    settling: IntentSettler
