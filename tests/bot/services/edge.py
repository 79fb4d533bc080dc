"""Discord replaced at the edge, a hand-moved clock, and a moderator's request.

`RecordingGateway` stands in for Discord only: it records each call in order and
fails the ones a test asks it to. Everything behind it is real.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.domain.hierarchy import Participant, Permission, Scene
from bot.domain.lifecycle import Action, DiscordEntry
from bot.domain.ports import BulkBanResult, DiscordFailure, Membership, ModLogEntry, SentDm
from bot.services.acting import ActionRequest

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OWNER, MOD, BOT, MEMBER = 10, 20, 30, 40
MODLOG = 555
PERMS = Permission.BAN_MEMBERS | Permission.KICK_MEMBERS | Permission.MODERATE_MEMBERS
#: The people services act for: a moderator (Ban, Kick and Timeout Members), and the
#: same moderator with Manage Server too, for configuration.
MODERATOR = Participant(MOD, 5, PERMS)
MANAGER = Participant(MOD, 5, PERMS | Permission.MANAGE_GUILD)


#: The calls of this gateway that leave each kind of entry in Discord's audit log.
ENTRY_CALLS = {
    DiscordEntry.BAN: ("ban",),
    DiscordEntry.UNBAN: ("unban",),
    DiscordEntry.KICK: ("kick",),
    DiscordEntry.TIMEOUT: ("timeout",),
    DiscordEntry.UNTIMEOUT: ("timeout",),
    DiscordEntry.ROLES: ("add_role", "remove_role"),
}


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
    dm_texts: list[tuple[int, str]] = field(default_factory=list)
    #: What Discord shows now, for settling what a crash left pending.
    banned: set[int] = field(default_factory=set)
    unknown_users: set[int] = field(default_factory=set)
    members: dict[int, Membership] = field(default_factory=dict)
    #: Run before a Discord action answers (a test's way in: make it slow, break the database).
    during: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)

    async def _act(self, name: str, *args: object) -> None:
        self.calls.append((name, *args))
        if name in self.during:
            await self.during[name]()
        if name in self.failures:
            raise self.failures[name]

    def _call(self, name: str, *args: object) -> None:
        self.calls.append((name, *args))
        if name in self.failures:
            raise self.failures[name]

    async def send_dm(self, user_id: int, text: str) -> SentDm | None:
        self.calls.append(("dm", user_id, text))
        if not self.dm_open:
            return None
        self.dm_texts.append((user_id, text))
        return SentDm(900_000 + user_id % 1000, len(self.dm_texts))

    async def find_dm(self, user_id: int, marker: str) -> SentDm | None:
        self._call("find_dm", user_id, marker)
        for number, (user, text) in enumerate(self.dm_texts, start=1):
            if user == user_id and marker in text:
                return SentDm(900_000 + user_id % 1000, number)
        return None

    async def is_banned(self, guild_id: int, user_id: int) -> bool:
        self._call("is_banned", user_id)
        return user_id in self.banned

    async def in_audit_log(
        self,
        guild_id: int,
        user_id: int,
        kinds: tuple[DiscordEntry, ...],
        marker: str,
        *,
        since: datetime,
    ) -> bool:
        self._call("in_audit_log", user_id, marker)
        calls = {name for kind in kinds for name in ENTRY_CALLS[kind]}
        return any(
            call[0] in calls and call[1] == user_id and marker in " ".join(map(str, call[2:]))
            for call in self.calls
        )

    async def user_exists(self, user_id: int) -> bool:
        self._call("user_exists", user_id)
        return user_id not in self.unknown_users

    async def membership(self, guild_id: int, user_id: int) -> Membership | None:
        self._call("membership", user_id)
        return self.members.get(user_id)

    async def delete_dm(self, sent: SentDm) -> bool:
        self._call("delete_dm", sent.message_id)
        return True

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str, delete_message_seconds: int
    ) -> None:
        await self._act("ban", user_id, reason, delete_message_seconds)

    async def unban(self, guild_id: int, user_id: int, *, reason: str) -> None:
        await self._act("unban", user_id, reason)

    async def kick(self, guild_id: int, user_id: int, *, reason: str) -> None:
        await self._act("kick", user_id, reason)

    async def timeout(
        self, guild_id: int, user_id: int, *, until: datetime | None, reason: str
    ) -> None:
        await self._act("timeout", user_id, until, reason)

    async def add_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        self._call("add_role", user_id, role_id, reason)

    async def remove_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        self._call("remove_role", user_id, role_id, reason)

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
