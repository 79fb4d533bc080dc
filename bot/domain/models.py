"""The plain records repositories hand out; rows never leave `db/`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.lifecycle import Action, CaseState


@dataclass(frozen=True, slots=True)
class NewCase:
    """What a caller knows when it records a case; the number is allocated on insert."""

    type: Action
    target_id: int
    moderator_id: int
    created_at: datetime
    reason: str | None = None
    expires_at: datetime | None = None
    state: CaseState = CaseState.CLOSED
    dm_delivered: bool | None = None
    audit_log_entry_id: int | None = None
    related_number: int | None = None
    renew_at: datetime | None = None
    dm_channel_id: int | None = None
    dm_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """One numbered entry in a guild's case log."""

    guild_id: int
    number: int
    type: Action
    target_id: int
    moderator_id: int
    created_at: datetime
    reason: str | None
    expires_at: datetime | None
    state: CaseState
    dm_delivered: bool | None
    audit_log_entry_id: int | None
    related_number: int | None
    revoked_at: datetime | None
    revoked_by: int | None
    revoke_reason: str | None
    renew_at: datetime | None
    dm_channel_id: int | None
    dm_message_id: int | None

    @property
    def active(self) -> bool:
        """In force: a ban or mute not yet ended, a warning that still counts."""
        return self.state is CaseState.ACTIVE


@dataclass(frozen=True, slots=True)
class Guild:
    id: int
    name: str
    joined_at: datetime
    left_at: datetime | None


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    guild_id: int
    user_id: int
    joined_at: datetime | None
    left_at: datetime | None


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    guild_id: int
    id: int
    threshold: int
    action: Action
    duration_seconds: int | None
    window_seconds: int | None
    created_by: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FeatureFlag:
    guild_id: int
    name: str
    enabled: bool
    updated_by: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Setting:
    guild_id: int
    key: str
    value: Any
    updated_by: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    guild_id: int
    id: int
    actor_id: int
    action: str
    entity: str
    entity_id: str
    created_at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
