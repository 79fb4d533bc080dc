"""The services a running bot shares, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.audit import AuditService
from bot.services.config import ConfigService
from bot.services.moderation import ModerationService
from bot.services.policies import PolicyService


@dataclass(frozen=True, slots=True)
class Services:
    config: ConfigService
    moderation: ModerationService
    policies: PolicyService
    audit: AuditService
