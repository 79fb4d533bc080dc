"""The reads `lockdown doctor` makes on Discord, over discord.py's HTTP client.

discord.py keeps its rate limiting: a 429 is waited out (`retry_after`) and
retried, and the emulator's or Discord's buckets are respected across the
doctor's few requests per guild.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import aiohttp
import discord
from discord.http import HTTPClient, Route

from bot.discord_side.client import intents
from bot.domain.doctor import (
    PRIVILEGED_INTENTS,
    BotAccount,
    ChannelFacts,
    GuildEntry,
    GuildFacts,
    Overwrite,
    Role,
)
from bot.domain.ports import DiscordFailure

T = TypeVar("T")

#: `GET /users/@me/guilds` returns at most 200 guilds a page.
GUILDS_PAGE = 200

#: What needs each privileged intent `client.intents` may request.
NEEDED_FOR = {
    "members": "seeing members (re-applying a mute when a member rejoins, "
    "hierarchy checks on members)",
    "presences": "presence updates",
    "message_content": "reading messages",
}


def requested_privileged_intents() -> dict[str, str]:
    """The privileged intents the bot requests, each with what needs it."""
    wanted = intents()
    return {name: NEEDED_FOR[name] for name in PRIVILEGED_INTENTS if getattr(wanted, name)}


class RestDirectory:
    """Implements `bot.domain.doctor.DiscordDirectory` at `Route.BASE`."""

    def __init__(self) -> None:
        self._http = HTTPClient(asyncio.get_running_loop())

    async def _read(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except discord.LoginFailure:
            raise DiscordFailure(401, 0, "401 Unauthorized") from None
        except discord.HTTPException as error:
            raise DiscordFailure(error.status, error.code, error.text or str(error)) from None
        except (OSError, aiohttp.ClientError) as error:
            raise DiscordFailure(0, 0, str(error) or type(error).__name__) from None

    async def log_in(self, token: str) -> BotAccount:
        me: Any = await self._read(self._http.static_login(token))
        return BotAccount(int(me["id"]), str(me["username"]))

    async def application_flags(self) -> int:
        application = await self._read(self._http.request(Route("GET", "/applications/@me")))
        return int(application.get("flags") or 0)

    async def guilds(self) -> AsyncIterator[GuildEntry]:
        after: int | None = None
        while True:
            page = await self._read(
                self._http.get_guilds(GUILDS_PAGE, after=after, with_counts=False)
            )
            for guild in page:
                yield GuildEntry(int(guild["id"]), guild["name"])
            if len(page) < GUILDS_PAGE:
                return
            after = int(page[-1]["id"])

    async def guild(self, guild_id: int) -> GuildFacts:
        guild = await self._read(self._http.get_guild(guild_id, with_counts=False))
        return GuildFacts(
            int(guild["id"]),
            guild["name"],
            int(guild["owner_id"]),
            tuple(
                Role(int(r["id"]), r["name"], int(r["position"]), int(r["permissions"]))
                for r in guild["roles"]
            ),
        )

    async def member_roles(self, guild_id: int, user_id: int) -> frozenset[int]:
        member = await self._read(self._http.get_member(guild_id, user_id))
        return frozenset(int(r) for r in member["roles"])

    async def channel(self, channel_id: int) -> ChannelFacts:
        channel: Any = await self._read(self._http.get_channel(channel_id))
        return ChannelFacts(
            int(channel["id"]),
            str(channel.get("name") or channel_id),
            tuple(
                Overwrite(int(o["id"]), int(o["type"]) == 0, int(o["allow"]), int(o["deny"]))
                for o in channel.get("permission_overwrites") or ()
            ),
        )

    async def close(self) -> None:
        await self._http.close()
