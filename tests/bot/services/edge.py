"""Discord replaced at the edge, a hand-moved clock, and a moderator's request.

`RecordingGateway` stands in for Discord only: it records each call in order and
fails the ones a test asks it to. Everything behind it is real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.domain.hierarchy import Participant, Permission, Scene
from bot.domain.lifecycle import Action
from bot.domain.ports import BulkBanResult, DiscordFailure, ModLogEntry
from bot.services.acting import ActionRequest

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OWNER, MOD, BOT, MEMBER = 10, 20, 30, 40
MODLOG = 555
PERMS = Permission.BAN_MEMBERS | Permission.KICK_MEMBERS | Permission.MODERATE_MEMBERS


@dataclass
class FixedClock:
    at: datetime = NOW

    def now(self) -> datetime:
        return self.at


@dataclass
class RecordingGateway:
    calls: list[tuple[object, ...]] = field(default_factory=list)
    failures: dict[str, DiscordFailure] = field(default_factory=dict)
    dm_open: bool = True
    modlog: list[ModLogEntry] = field(default_factory=list)

    def _call(self, name: str, *args: object) -> None:
        self.calls.append((name, *args))
        if name in self.failures:
            raise self.failures[name]

    async def send_dm(self, user_id: int, text: str) -> bool:
        self.calls.append(("dm", user_id, text))
        return self.dm_open

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str, delete_message_seconds: int
    ) -> None:
        self._call("ban", user_id, reason, delete_message_seconds)

    async def unban(self, guild_id: int, user_id: int, *, reason: str) -> None:
        self._call("unban", user_id, reason)

    async def kick(self, guild_id: int, user_id: int, *, reason: str) -> None:
        self._call("kick", user_id, reason)

    async def timeout(
        self, guild_id: int, user_id: int, *, until: datetime | None, reason: str
    ) -> None:
        self._call("timeout", user_id, until, reason)

    async def add_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        self._call("add_role", user_id, role_id)

    async def remove_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        self._call("remove_role", user_id, role_id)

    async def bulk_ban(
        self, guild_id: int, user_ids: list[int], *, reason: str, delete_message_seconds: int
    ) -> BulkBanResult:
        self._call("bulk_ban", list(user_ids))
        return BulkBanResult(banned=list(user_ids), failed=[])

    async def post_alert(self, channel_id: int, text: str) -> bool:
        self.calls.append(("alert", channel_id, text))
        return True

    async def post_modlog(self, channel_id: int, entry: ModLogEntry) -> bool:
        self.calls.append(("modlog", channel_id, entry.case.number, entry.case.type))
        self.modlog.append(entry)
        return True

    def names(self) -> list[object]:
        return [call[0] for call in self.calls]


def request(guild_id: int, action: Action, **changes: object) -> ActionRequest:
    scene = Scene(
        owner_id=OWNER,
        actor=Participant(MOD, 5, PERMS),
        bot=Participant(BOT, 10, PERMS),
        target_id=MEMBER,
        target=Participant(MEMBER, 1, 0),
    )
    values: dict[str, object] = {
        "guild_id": guild_id,
        "guild_name": "Test Guild",
        "action": action,
        "scene": scene,
        "actor_name": "mod",
        "target_name": "member",
        "reason": "spam",
    }
    values.update(changes)
    return ActionRequest(**values)  # type: ignore[arg-type]
