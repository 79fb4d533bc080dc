"""What services need from the outside world, as small interfaces.

Services depend on these `Protocol`s; `bot/discord_gateway.py` implements the
Discord side with discord.py, and tests may implement them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.errors import LockdownError
from bot.domain.lifecycle import DiscordEntry
from bot.domain.models import Case


class DiscordFailure(LockdownError):
    """Discord refused or failed a request (after its retries)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"Discord answered {status}: {message}")
        self.status = status
        self.code = code
        self.discord_message = message


@dataclass(frozen=True, slots=True)
class ModLogEntry:
    """Everything a mod-log post shows about one case."""

    case: Case
    target_name: str
    moderator_name: str
    dm_delivered: bool | None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SentDm:
    """Where a DM landed, so it can be taken back if the action then fails."""

    channel_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class Membership:
    """What Discord says about a member now (for settling what a crash left open)."""

    timed_out_until: datetime | None
    role_ids: frozenset[int]

    def muted(self, now: datetime, mute_role_id: int | None) -> bool:
        """Whether Discord mutes them now: a timeout not yet over, or the mute role."""
        timed_out = self.timed_out_until is not None and self.timed_out_until > now
        return timed_out or (mute_role_id is not None and mute_role_id in self.role_ids)


@dataclass(frozen=True, slots=True)
class BulkBanResult:
    banned: list[int]
    failed: list[int]


class DiscordActions(Protocol):
    """The Discord actions moderation performs."""

    async def send_dm(self, user_id: int, text: str) -> SentDm | None:
        """Send a direct message; None if the user does not accept it."""
        ...

    async def delete_dm(self, sent: SentDm) -> bool:
        """Delete a DM the bot sent; False if it could not."""
        ...

    async def find_dm(self, user_id: int, marker: str) -> SentDm | None:
        """The bot's recent DM to the user that contains `marker`, if any."""
        ...

    async def is_banned(self, guild_id: int, user_id: int) -> bool: ...

    async def in_audit_log(
        self,
        guild_id: int,
        user_id: int,
        kinds: tuple[DiscordEntry, ...],
        marker: str,
        *,
        since: datetime,
    ) -> bool:
        """Whether Discord's audit log has an entry of one of `kinds` made after `since`
        against the user, whose reason has `marker` (the bot's own entries name their
        case). Every such entry is read, however busy the guild."""
        ...

    async def user_exists(self, user_id: int) -> bool:
        """Whether Discord knows this user id at all."""
        ...

    async def membership(self, guild_id: int, user_id: int) -> Membership | None:
        """The member's standing now; None if they are not in the guild."""
        ...

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str, delete_message_seconds: int
    ) -> None: ...

    async def unban(self, guild_id: int, user_id: int, *, reason: str) -> None: ...

    async def kick(self, guild_id: int, user_id: int, *, reason: str) -> None: ...

    async def timeout(
        self, guild_id: int, user_id: int, *, until: datetime | None, reason: str
    ) -> None:
        """Time a member out until `until`, or lift the timeout with None."""
        ...

    async def add_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None: ...

    async def remove_role(
        self, guild_id: int, user_id: int, role_id: int, *, reason: str
    ) -> None: ...

    async def bulk_ban(
        self, guild_id: int, user_ids: list[int], *, reason: str, delete_message_seconds: int
    ) -> BulkBanResult: ...

    async def post_alert(self, channel_id: int, text: str) -> bool:
        """Post a warning for the moderators (no case); False if the post failed."""
        ...

    async def post_modlog(self, channel_id: int, entry: ModLogEntry) -> bool:
        """Post a case to the mod-log channel; False if the post failed."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...
