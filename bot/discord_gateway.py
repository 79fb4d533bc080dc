"""The Discord side of `ModerationGateway`, on discord.py.

Targets are addressed by id (`discord.Object`), so actions work on users who
are not cached or not in the guild. discord.py's errors become
`DiscordFailure`, so services never see discord.py types.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

import discord

from bot.domain.models import CaseType
from bot.domain.ports import BulkBanResult, DiscordFailure, ModLogEntry

log = logging.getLogger(__name__)
T = TypeVar("T")
NO_MENTIONS = discord.AllowedMentions.none()

CASE_COLOURS = {
    CaseType.BAN: discord.Colour.red(),
    CaseType.SOFTBAN: discord.Colour.dark_red(),
    CaseType.KICK: discord.Colour.orange(),
    CaseType.MUTE: discord.Colour.gold(),
    CaseType.WARN: discord.Colour.yellow(),
    CaseType.UNBAN: discord.Colour.green(),
    CaseType.UNMUTE: discord.Colour.green(),
    CaseType.PARDON: discord.Colour.green(),
    CaseType.NOTE: discord.Colour.light_grey(),
}


def dm_status(delivered: bool | None) -> str:
    return {True: "delivered", False: "not delivered (DMs closed)", None: "not sent"}[delivered]


def modlog_embed(entry: ModLogEntry) -> discord.Embed:
    """The mod-log post for one case."""
    case = entry.case
    embed = discord.Embed(
        title=f"Case #{case.number} · {case.type.value}",
        colour=CASE_COLOURS[case.type],
        timestamp=case.created_at,
    )
    embed.add_field(name="Member", value=f"{entry.target_name} (`{case.target_id}`)")
    embed.add_field(name="Moderator", value=f"{entry.moderator_name} (`{case.moderator_id}`)")
    embed.add_field(name="Reason", value=case.reason or "no reason given", inline=False)
    if case.expires_at is not None:
        stamp = int(case.expires_at.timestamp())
        embed.add_field(name="Expires", value=f"<t:{stamp}:F> (<t:{stamp}:R>)")
    embed.add_field(name="DM", value=dm_status(entry.dm_delivered))
    if entry.note:
        embed.set_footer(text=entry.note)
    return embed


async def _discord(call: Awaitable[T]) -> T:
    try:
        return await call
    except discord.HTTPException as error:
        raise DiscordFailure(error.status, error.code, error.text or str(error)) from None


class DiscordModerationGateway:
    """Implements `bot.domain.ports.ModerationGateway` with a connected client."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def _guild(self, guild_id: int) -> discord.Guild:
        guild = self._client.get_guild(guild_id)
        if guild is None:
            raise DiscordFailure(404, 10004, "Unknown Guild")
        return guild

    async def send_dm(self, user_id: int, text: str) -> bool:
        try:
            channel = await self._client.create_dm(discord.Object(user_id))
            await channel.send(text, allowed_mentions=NO_MENTIONS)
        except (discord.Forbidden, discord.NotFound):
            return False
        except discord.HTTPException as error:
            log.warning("DM to %s failed: %s", user_id, error)
            return False
        return True

    async def ban(
        self, guild_id: int, user_id: int, *, reason: str, delete_message_seconds: int
    ) -> None:
        await _discord(
            self._guild(guild_id).ban(
                discord.Object(user_id),
                reason=reason,
                delete_message_seconds=delete_message_seconds,
            )
        )

    async def unban(self, guild_id: int, user_id: int, *, reason: str) -> None:
        await _discord(self._guild(guild_id).unban(discord.Object(user_id), reason=reason))

    async def kick(self, guild_id: int, user_id: int, *, reason: str) -> None:
        await _discord(self._guild(guild_id).kick(discord.Object(user_id), reason=reason))

    async def timeout(
        self, guild_id: int, user_id: int, *, until: datetime | None, reason: str
    ) -> None:
        await _discord(
            self._client.http.edit_member(
                guild_id,
                user_id,
                reason=reason,
                communication_disabled_until=until.isoformat() if until else None,
            )
        )

    async def add_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        await _discord(self._client.http.add_role(guild_id, user_id, role_id, reason=reason))

    async def remove_role(self, guild_id: int, user_id: int, role_id: int, *, reason: str) -> None:
        await _discord(self._client.http.remove_role(guild_id, user_id, role_id, reason=reason))

    async def bulk_ban(
        self, guild_id: int, user_ids: list[int], *, reason: str, delete_message_seconds: int
    ) -> BulkBanResult:
        result = await _discord(
            self._guild(guild_id).bulk_ban(
                [discord.Object(i) for i in user_ids],
                reason=reason,
                delete_message_seconds=delete_message_seconds,
            )
        )
        return BulkBanResult(
            banned=[user.id for user in result.banned], failed=[user.id for user in result.failed]
        )

    async def post_alert(self, channel_id: int, text: str) -> bool:
        embed = discord.Embed(title="Alert", description=text, colour=discord.Colour.red())
        return await self._post(channel_id, embed)

    async def post_modlog(self, channel_id: int, entry: ModLogEntry) -> bool:
        return await self._post(channel_id, modlog_embed(entry))

    async def _post(self, channel_id: int, embed: discord.Embed) -> bool:
        channel = self._client.get_channel(channel_id)
        if not isinstance(channel, discord.TextChannel):
            log.warning("mod-log channel %s is not a text channel I can see", channel_id)
            return False
        try:
            await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            log.warning("could not post %r to the mod log: %s", embed.title, error)
            return False
        return True
