"""Discord JSON shapes for world objects (API v10).

Kept in one place so REST responses and gateway events serialise the same
objects identically, the way Discord does: snowflakes and permission
bitfields as strings, timestamps as ISO-8601 with a UTC offset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .signals import Intent
from .world import (
    ApplicationCommand,
    AuditLogEntry,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    Role,
    User,
    World,
)

JSON = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def user(u: User) -> JSON:
    data: JSON = {
        "id": str(u.id),
        "username": u.username,
        "discriminator": "0",
        "global_name": u.global_name,
        "avatar": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "avatar_decoration_data": None,
        "primary_guild": None,
        "collectibles": None,
    }
    if u.bot:
        data["bot"] = True
    return data


def current_user(u: User) -> JSON:
    """`/users/@me` and READY's `user`: the public user plus account fields."""
    return {**user(u), "verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US"}


def role(r: Role) -> JSON:
    data: JSON = {
        "id": str(r.id),
        "name": r.name,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def member(world: World, m: Member, *, with_user: bool = True) -> JSON:
    data: JSON = {
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(role_id) for role_id in m.role_ids],
        "joined_at": iso(m.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": iso(m.communication_disabled_until),
    }
    if with_user:
        data["user"] = user(world.user(m.user_id))
    return data


def channel(world: World, c: Channel, *, permissions: int | None = None) -> JSON:
    if c.type == ChannelType.DM:
        recipient = world.user(c.recipient_id) if c.recipient_id is not None else None
        return {
            "id": str(c.id),
            "type": int(c.type),
            "last_message_id": None if c.last_message_id is None else str(c.last_message_id),
            "flags": 0,
            "recipients": [user(recipient)] if recipient else [],
        }
    data: JSON = {
        "id": str(c.id),
        "type": int(c.type),
        "guild_id": str(c.guild_id),
        "name": c.name,
        "position": c.position,
        "parent_id": None if c.parent_id is None else str(c.parent_id),
        "topic": c.topic,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None if c.last_message_id is None else str(c.last_message_id),
        "flags": 0,
        "permission_overwrites": [
            {"id": str(ow.id), "type": ow.type, "allow": str(ow.allow), "deny": str(ow.deny)}
            for ow in c.overwrites
        ],
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def partial_guild(world: World, g: Guild, with_counts: bool) -> JSON:
    """`GET /users/@me/guilds`: the guild as its member (the bot) sees it in a list."""
    data: JSON = {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "banner": None,
        "owner": g.owner_id == world.bot.id,
        "permissions": str(world.permissions(g, world.bot)),
        "features": [],
    }
    if with_counts:
        data["approximate_member_count"] = len(g.members)
        data["approximate_presence_count"] = 0
    return data


def guild(world: World, g: Guild) -> JSON:
    """The REST guild object (no members/channels; those are GUILD_CREATE extras)."""
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(g.owner_id),
        "region": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "roles": [role(r) for r in sorted(g.roles.values(), key=lambda r: r.position)],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_members": 500000,
        "max_presences": None,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": g.preferred_locale,
        "nsfw_level": 0,
        "incidents_data": None,
    }


def guild_create(world: World, g: Guild) -> JSON:
    """GUILD_CREATE: the full guild with every member, so discord.py sees it as chunked."""
    joined = g.members.get(world.bot.id)
    return {
        **guild(world, g),
        "unavailable": False,
        "lazy": True,
        "large": len(g.members) > 250,
        "member_count": len(g.members),
        "joined_at": iso(joined.joined_at) if joined else None,
        "members": [member(world, m) for m in g.members.values()],
        "channels": [channel(world, c) for c in g.channels.values()],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "embedded_activities": [],
    }


def message(world: World, m: Message) -> JSON:
    data: JSON = {
        "id": str(m.id),
        "channel_id": str(m.channel_id),
        "author": user(world.user(m.author_id)),
        "content": m.content,
        "timestamp": iso(m.created_at),
        "edited_timestamp": iso(m.edited_at),
        "tts": m.tts,
        "mention_everyone": m.mention_everyone,
        "mentions": [user(world.user(uid)) for uid in m.mention_user_ids if uid in world.users],
        "mention_roles": [str(rid) for rid in m.mention_role_ids],
        "attachments": m.attachments,
        "embeds": m.embeds,
        "pinned": False,
        "type": m.type,
        "flags": m.flags,
        "components": m.components,
    }
    if m.guild_id is not None:
        data["guild_id"] = str(m.guild_id)
    if m.webhook_id is not None:
        data["webhook_id"] = str(m.webhook_id)
        data["application_id"] = str(m.webhook_id)
    if m.interaction is not None:
        data["interaction_metadata"] = {
            "id": str(m.interaction.id),
            "type": m.interaction.type,
            "user": user(world.user(m.interaction.user_id)),
            "authorizing_integration_owners": {"0": str(m.guild_id)} if m.guild_id else {},
        }
    return data


def message_create(world: World, m: Message) -> JSON:
    """MESSAGE_CREATE/UPDATE add the author's guild member (without user) in guilds."""
    data = message(world, m)
    if m.guild_id is not None:
        g = world.guild(m.guild_id)
        author = g.members.get(m.author_id)
        if author is not None:
            data["member"] = member(world, author, with_user=False)
    return data


def audit_entry(e: AuditLogEntry) -> JSON:
    data: JSON = {
        "id": str(e.id),
        "action_type": e.action_type,
        "user_id": None if e.user_id is None else str(e.user_id),
        "target_id": None if e.target_id is None else str(e.target_id),
        "changes": e.changes,
    }
    if e.reason is not None:
        data["reason"] = e.reason
    if e.options is not None:
        data["options"] = e.options
    return data


def ban(world: World, g: Guild, user_id: int) -> JSON:
    return {"reason": g.bans[user_id], "user": user(world.user(user_id))}


def command(c: ApplicationCommand) -> JSON:
    """Echo the definition back with the server-assigned fields, like Discord."""
    data: JSON = {
        "type": 1,
        "description": "",
        "options": [],
        "default_member_permissions": None,
        "dm_permission": True,
        "nsfw": False,
        "contexts": None,
        "integration_types": [0],
        **c.definition,
        "id": str(c.id),
        "application_id": str(c.application_id),
        "version": str(c.version),
    }
    if c.guild_id is not None:
        data["guild_id"] = str(c.guild_id)
    return data


def application_flags(privileged_intents: int) -> int:
    """The GATEWAY_* application flags matching the privileged intents switched on."""
    flags = 0
    if privileged_intents & Intent.GUILD_PRESENCES:
        flags |= 1 << 12
    if privileged_intents & Intent.GUILD_MEMBERS:
        flags |= 1 << 14
    if privileged_intents & Intent.MESSAGE_CONTENT:
        flags |= 1 << 18
    return flags


def application(world: World, flags: int) -> JSON:
    """`/oauth2/applications/@me`; `flags` advertise which privileged intents are enabled."""
    bot = world.bot
    return {
        "id": str(world.application_id),
        "name": bot.username,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": user(bot) | {"username": f"{bot.username}-team-owner", "bot": False},
        "team": None,
        "flags": flags,
        "bot": user(bot),
        "interactions_endpoint_url": None,
        "redirect_uris": [],
        "tags": [],
        "approximate_guild_count": len(world.guilds),
    }
