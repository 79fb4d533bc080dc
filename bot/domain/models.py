"""The plain records repositories hand out; rows never leave `db/`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class CaseType(enum.StrEnum):
    """Every kind of entry in the case log."""

    BAN = "ban"
    UNBAN = "unban"
    SOFTBAN = "softban"
    KICK = "kick"
    MUTE = "mute"
    UNMUTE = "unmute"
    WARN = "warn"
    PARDON = "pardon"
    NOTE = "note"


#: Case types that stay in force until they expire or are revoked.
LASTING_TYPES = frozenset({CaseType.BAN, CaseType.MUTE, CaseType.WARN})


@dataclass(frozen=True, slots=True)
class NewCase:
    """What a caller knows when it records a case; the number is allocated on insert."""

    type: CaseType
    target_id: int
    moderator_id: int
    created_at: datetime
    reason: str | None = None
    expires_at: datetime | None = None
    active: bool = False
    dm_delivered: bool | None = None
    audit_log_entry_id: int | None = None
    related_number: int | None = None
    renew_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """One numbered entry in a guild's case log."""

    guild_id: int
    number: int
    type: CaseType
    target_id: int
    moderator_id: int
    created_at: datetime
    reason: str | None
    expires_at: datetime | None
    active: bool
    dm_delivered: bool | None
    audit_log_entry_id: int | None
    related_number: int | None
    revoked_at: datetime | None
    revoked_by: int | None
    revoke_reason: str | None
    renew_at: datetime | None


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
    action: CaseType
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
class AuditEntry:
    guild_id: int
    id: int
    actor_id: int
    action: str
    entity: str
    entity_id: str
    created_at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
