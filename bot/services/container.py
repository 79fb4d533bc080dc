"""The services a running bot shares, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.config import ConfigService
from bot.services.moderation import ModerationService


@dataclass(frozen=True, slots=True)
class Services:
    config: ConfigService
    moderation: ModerationService
