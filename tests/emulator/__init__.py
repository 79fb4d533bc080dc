"""An in-process Discord API emulator (REST v10 + gateway) for end-to-end tests.

An unmodified discord.py bot connects to it after::

    discord.http.Route.BASE = emu.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)

Typical end-to-end test (the bot runs as a subprocess; the emulator lives in
the pytest event loop, so wait with asyncio, never with blocking calls)::

    async with DiscordEmulator() as emu:
        std = emu.world.build_standard_guild()
        bot = await asyncio.create_subprocess_exec(..., env={..., "API": emu.api_base_url})
        await emu.wait_for_ready(timeout=15)
        await emu.wait_until(lambda: emu.synced_commands(std.guild), timeout=5)
        handle = await emu.send_slash_command(
            std.guild, std.general, std.moderator, "ban", {"user": std.members[0], "reason": "spam"}
        )
        assert (await handle.wait_response()).ephemeral
        assert std.members[0].id in emu.bans(std.guild)
        assert emu.internal_errors == []

See `server.DiscordEmulator` for the test-facing API, `world.World` for
building guilds, members and roles, and `ratelimits` for Discord's rate limits
(off by default; `DiscordEmulator(rate_limits=True)`).
"""

from .errors import ApiError
from .gateway import GatewaySession
from .interactions import (
    CallbackType,
    InteractionCallback,
    InteractionHandle,
    InteractionRecord,
    OptionType,
)
from .moderation import AuditAction
from .ratelimits import BucketCounter, BucketSpec, RateLimitHit, RateLimits
from .rest import RequestRecord
from .server import DEFAULT_TOKEN, DiscordEmulator
from .signals import Intent
from .world import (
    ALL_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    AuditLogEntry,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    MessageFlag,
    Overwrite,
    Permission,
    Role,
    StandardGuild,
    User,
    World,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DEFAULT_TOKEN",
    "ApiError",
    "AuditAction",
    "AuditLogEntry",
    "BucketCounter",
    "BucketSpec",
    "CallbackType",
    "Channel",
    "ChannelType",
    "DiscordEmulator",
    "GatewaySession",
    "Guild",
    "Intent",
    "InteractionCallback",
    "InteractionHandle",
    "InteractionRecord",
    "Member",
    "Message",
    "MessageFlag",
    "OptionType",
    "Overwrite",
    "Permission",
    "RateLimitHit",
    "RateLimits",
    "RequestRecord",
    "Role",
    "StandardGuild",
    "User",
    "World",
]
