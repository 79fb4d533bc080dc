"""`DiscordActions` over Discord's REST API alone, on discord.py's HTTP client.

Everything is addressed by id, so one adapter serves the gateway bot (with
its own `http`), the command line and the web process (with an HTTP client
logged in by token): none of them needs a gateway connection or a cache to
act. discord.py's errors become `DiscordFailure`, so services never see
discord.py types; discord.py keeps handling rate limits and retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TypeVar

import discord
from discord.http import HTTPClient, handle_message_parameters

from bot.discord_side.limits import (
    EMBED_DESCRIPTION,
    EMBED_TITLE,
    EMBED_TOTAL,
    FOOTER,
    add_field,
    case_marker,
    cut,
)
from bot.discord_side.mentions import NO_MENTIONS
from bot.domain.lifecycle import Action, DiscordEntry
from bot.domain.ports import BulkBanResult, DiscordFailure, Membership, ModLogEntry, SentDm
from bot.domain.reasons import NO_REASON

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The audit-log action each kind of entry is filed under.
AUDIT_ACTIONS = {
    DiscordEntry.BAN: discord.AuditLogAction.ban,
    DiscordEntry.UNBAN: discord.AuditLogAction.unban,
    DiscordEntry.KICK: discord.AuditLogAction.kick,
    DiscordEntry.TIMEOUT: discord.AuditLogAction.member_update,
    DiscordEntry.UNTIMEOUT: discord.AuditLogAction.member_update,
    DiscordEntry.ROLES: discord.AuditLogAction.member_role_update,
}

CASE_COLOURS = {
    Action.BAN: discord.Colour.red(),
    Action.SOFTBAN: discord.Colour.dark_red(),
    Action.KICK: discord.Colour.orange(),
    Action.MUTE: discord.Colour.gold(),
    Action.WARN: discord.Colour.yellow(),
    Action.UNBAN: discord.Colour.green(),
    Action.UNMUTE: discord.Colour.green(),
    Action.PARDON: discord.Colour.green(),
    Action.NOTE: discord.Colour.light_grey(),
}


def dm_status(delivered: bool | None) -> str:
    return {True: "delivered", False: "not delivered (DMs closed)", None: "not sent"}[delivered]


def modlog_embed(entry: ModLogEntry) -> discord.Embed:
    """The mod-log post for one case, within Discord's embed limits: a reason too long
    for its field (none is, at 1,000 characters) ends with where to read it in full."""
    case = entry.case
    embed = discord.Embed(
        title=cut(f"Case #{case.number} · {case.type.value}", EMBED_TITLE),
        colour=CASE_COLOURS[case.type],
        timestamp=case.created_at,
    )
    add_field(embed, "Member", f"{entry.target_name} (`{case.target_id}`)")
    add_field(embed, "Moderator", f"{entry.moderator_name} (`{case.moderator_id}`)")
    add_field(
        embed, "Reason", case.reason or NO_REASON, inline=False, marker=case_marker(case.number)
    )
    if case.expires_at is not None:
        stamp = int(case.expires_at.timestamp())
        add_field(embed, "Expires", f"<t:{stamp}:F> (<t:{stamp}:R>)")
    add_field(embed, "DM", dm_status(entry.dm_delivered))
    if entry.note:
        room = min(FOOTER, EMBED_TOTAL - len(embed))
        embed.set_footer(text=cut(entry.note, room))
    return embed


async def _discord(call: Awaitable[T]) -> T:
    try:
        return await call
    except discord.HTTPException as error:
        raise DiscordFailure(error.status, error.code, error.text or str(error)) from None


class RestActions:
    """Implements `bot.domain.ports.DiscordActions` with REST requests only."""

    def __init__(self, http: HTTPClient) -> None:
        self._http = http
        # A DM channel's id never changes: open it once per user.
        self._dm_channels: dict[int, int] = {}

    @classmethod
    async def login(cls, token: str) -> RestActions:
        """For processes without a gateway connection (the CLI, the web process)."""
        http = HTTPClient(asyncio.get_running_loop())
        await http.static_login(token)
        return cls(http)

    async def close(self) -> None:
        await self._http.close()

    async def send_dm(self, user_id: int, text: str) -> SentDm | None:
        try:
            channel_id = self._dm_channels.get(user_id)
            if channel_id is None:
                channel_id = int((await self._http.start_private_message(user_id))["id"])
                self._dm_channels[user_id] = channel_id
            params = handle_message_parameters(content=text, allowed_mentions=NO_MENTIONS)
            message = await self._http.send_message(channel_id, params=params)
        except (discord.Forbidden, discord.NotFound):
            return None
        except discord.HTTPException as error:
            log.warning("DM to %s failed: %s", user_id, error)
            return None
        return SentDm(channel_id, int(message["id"]))

    async def delete_dm(self, sent: SentDm) -> bool:
        try:
            await self._http.delete_message(sent.channel_id, sent.message_id)
        except discord.NotFound:
            return True  # already gone
        except discord.HTTPException as error:
            log.warning("could not delete DM %s: %s", sent.message_id, error)
            return False
        return True

    async def find_dm(self, user_id: int, marker: str) -> SentDm | None:
        try:
            channel_id = self._dm_channels.get(user_id)
            if channel_id is None:
                channel_id = int((await self._http.start_private_message(user_id))["id"])
                self._dm_channels[user_id] = channel_id
            messages = await self._http.logs_from(channel_id, 50)
        except discord.HTTPException:
            return None
        for message in messages:
            if message["author"].get("bot") and marker in message.get("content", ""):
                return SentDm(channel_id, int(message["id"]))
        return None

    async def is_banned(self, guild_id: int, user_id: int) -> bool:
        try:
            await self._http.get_ban(user_id, guild_id)
        except discord.NotFound:
            return False
        except discord.HTTPException as error:
            raise DiscordFailure(error.status, error.code, error.text or str(error)) from None
        return True

    async def in_audit_log(
        self,
        guild_id: int,
        user_id: int,
        kinds: tuple[DiscordEntry, ...],
        marker: str,
        *,
        since: datetime,
    ) -> bool:
        # Oldest first from `since` (a minute early, for clock skew), a page at a time.
        start = discord.utils.time_snowflake(since - timedelta(minutes=1))
        for action in dict.fromkeys(AUDIT_ACTIONS[kind] for kind in kinds):
            after = start
            while True:
                page = await _discord(
                    self._http.get_audit_logs(
                        guild_id, limit=100, action_type=action.value, after=after
                    )
                )
                entries = page["audit_log_entries"]
                if any(
                    int(entry.get("target_id") or 0) == user_id
                    and marker in (entry.get("reason") or "")
                    for entry in entries
                ):
                    return True
                if len(entries) < 100:
                    break
                after = max(int(entry["id"]) for entry in entries)
        return False

    async def user_exists(self, user_id: int) -> bool:
        try:
            await self._http.get_user(user_id)
        except discord.NotFound:
            return False
        except discord.HTTPException as error:
            raise DiscordFailure(error.status, error.code, error.text or str(error)) from None
        return True

    async def membership(self, guild_id: int, user_id: int) -> Membership | None:
        try:
            member = await self._http.get_member(guild_id, user_id)
        except discord.NotFound:
            return None
        except discord.HTTPException as error:
            raise DiscordFailure(error.status, error.code, error.text or str(error)) from None
        until = member.get("communication_disabled_until")
        return Membership(
            timed_out_until=datetime.fromisoformat(until) if until else None,
            role_ids=frozenset(int(r) for r in member.get("roles", [])),
        )

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str, delete_message_seconds: int
    ) -> None:
        await _discord(
            self._http.ban(
                user_id, guild_id, delete_message_seconds=delete_message_seconds, reason=reason
            )
        )

    async def unban(self, guild_id: int, user_id: int, *, reason: str) -> None:
        await _discord(self._http.unban(user_id, guild_id, reason=reason))

    async def kick(self, guild_id: int, user_id: int, *, reason: str) -> None:
        await _discord(self._http.kick(user_id, guild_id, reason=reason))

    async def timeout(
        self, guild_id: int, user_id: int, *, until: datetime | None, reason: str
    ) -> None:
        await _discord(
            self._http.edit_member(
                guild_id,
                user_id,
                reason=reason,
                communication_disabled_until=until.isoformat() if until else None,
            )
        )

    async def add_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        await _discord(self._http.add_role(guild_id, user_id, role_id, reason=reason))

    async def remove_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        await _discord(self._http.remove_role(guild_id, user_id, role_id, reason=reason))

    async def bulk_ban(
        self, guild_id: int, user_ids: list[int], *, reason: str, delete_message_seconds: int
    ) -> BulkBanResult:
        result = await _discord(
            self._http.bulk_ban(
                guild_id,
                list(user_ids),
                delete_message_seconds=delete_message_seconds,
                reason=reason,
            )
        )
        return BulkBanResult(
            banned=[int(i) for i in result.get("banned_users") or ()],
            failed=[int(i) for i in result.get("failed_users") or ()],
        )

    async def post_alert(self, channel_id: int, text: str) -> bool:
        embed = discord.Embed(
            title="Alert", description=cut(text, EMBED_DESCRIPTION), colour=discord.Colour.red()
        )
        return await self._post(channel_id, embed)

    async def post_modlog(self, channel_id: int, entry: ModLogEntry) -> bool:
        return await self._post(channel_id, modlog_embed(entry))

    async def _post(self, channel_id: int, embed: discord.Embed) -> bool:
        params = handle_message_parameters(embed=embed, allowed_mentions=NO_MENTIONS)
        try:
            await self._http.send_message(channel_id, params=params)
        except discord.HTTPException as error:
            log.warning("could not post %r to channel %s: %s", embed.title, channel_id, error)
            return False
        return True


class Offline:
    """`DiscordActions` for a process that has no token to act with (maintainer
    commands on the database): every action fails with a clear reason."""

    def _refuse(self) -> DiscordFailure:
        return DiscordFailure(0, 0, "this process is not connected to Discord")

    async def send_dm(self, user_id: int, text: str) -> SentDm | None:
        raise self._refuse()

    async def delete_dm(self, sent: SentDm) -> bool:
        raise self._refuse()

    async def find_dm(self, user_id: int, marker: str) -> SentDm | None:
        raise self._refuse()

    async def is_banned(self, guild_id: int, user_id: int) -> bool:
        raise self._refuse()

    async def in_audit_log(
        self,
        guild_id: int,
        user_id: int,
        kinds: tuple[DiscordEntry, ...],
        marker: str,
        *,
        since: datetime,
    ) -> bool:
        raise self._refuse()

    async def user_exists(self, user_id: int) -> bool:
        raise self._refuse()

    async def membership(self, guild_id: int, user_id: int) -> Membership | None:
        raise self._refuse()

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str, delete_message_seconds: int
    ) -> None:
        raise self._refuse()

    async def unban(self, guild_id: int, user_id: int, *, reason: str) -> None:
        raise self._refuse()

    async def kick(self, guild_id: int, user_id: int, *, reason: str) -> None:
        raise self._refuse()

    async def timeout(
        self, guild_id: int, user_id: int, *, until: datetime | None, reason: str
    ) -> None:
        raise self._refuse()

    async def add_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        raise self._refuse()

    async def remove_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        raise self._refuse()

    async def bulk_ban(
        self, guild_id: int, user_ids: list[int], *, reason: str, delete_message_seconds: int
    ) -> BulkBanResult:
        raise self._refuse()

    async def post_alert(self, channel_id: int, text: str) -> bool:
        return False

    async def post_modlog(self, channel_id: int, entry: ModLogEntry) -> bool:
        return False
