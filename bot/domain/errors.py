"""Typed domain errors; one handler turns them into user-facing text."""

from __future__ import annotations


class LockdownError(Exception):
    """Base class for errors a user or maintainer should see as a clear message."""


class GuildNotFound(LockdownError):
    def __init__(self, guild_id: int) -> None:
        super().__init__(f"guild {guild_id} is not known to Lockdown")
        self.guild_id = guild_id


class CaseNotFound(LockdownError):
    def __init__(self, guild_id: int, number: int) -> None:
        super().__init__(f"case #{number} does not exist in this server")
        self.guild_id = guild_id
        self.number = number


class AlreadyActive(LockdownError):
    """A target already has an active case of this type (one active ban or mute)."""

    def __init__(self, guild_id: int, target_id: int, kind: str) -> None:
        super().__init__(f"user {target_id} already has an active {kind}")
        self.guild_id = guild_id
        self.target_id = target_id
        self.kind = kind


class DuplicateAuditEntry(LockdownError):
    """A Discord audit-log entry was already recorded as a case."""

    def __init__(self, guild_id: int, audit_log_entry_id: int) -> None:
        super().__init__(f"audit-log entry {audit_log_entry_id} is already a case")
        self.guild_id = guild_id
        self.audit_log_entry_id = audit_log_entry_id


class PolicyExists(LockdownError):
    """A guild's escalation ladder already has a rung at this threshold."""

    def __init__(self, guild_id: int, threshold: int) -> None:
        super().__init__(f"there is already a policy at {threshold} warnings")
        self.guild_id = guild_id
        self.threshold = threshold


class DatabaseUnavailable(LockdownError):
    """The database cannot be reached (down, refusing connections, locked for too long)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "The database is unavailable right now, so nothing was done; try again in a moment."
        )
        self.detail = detail
