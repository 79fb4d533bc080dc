"""What services need from the outside world, as small interfaces.

Services depend on these `Protocol`s; `bot/discord_gateway.py` implements the
Discord side with discord.py, and tests may implement them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.errors import LockdownError
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
class BulkBanResult:
    banned: list[int]
    failed: list[int]


class DiscordActions(Protocol):
    """The Discord actions moderation performs."""

    async def send_dm(self, user_id: int, text: str) -> bool:
        """Send a direct message; False if the user does not accept it."""
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
