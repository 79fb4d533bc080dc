"""Messages: Discord's validation limits, mention resolution, posting rules and events.

Bugs that only show up against real Discord (a 2001-character reason, an
embed field over 1024 characters, a DM to a user with DMs closed, posting in
a channel the bot can't see) are rejected here with Discord's own errors.
"""

from __future__ import annotations

import re
from typing import Any

from . import errors, payloads
from .signals import EventSink, Intent
from .world import (
    Channel,
    ChannelType,
    InteractionOrigin,
    Message,
    MessageFlag,
    Permission,
    World,
    utcnow,
)

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ROWS = 5
MAX_ROW_ITEMS = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
EMBED_LIMITS = {
    "title": 256,
    "description": 4096,
    "footer.text": 2048,
    "author.name": 256,
}
# Flags a sender may set; Discord ignores the rest on send.
SENDABLE_FLAGS = 1 << 2 | 1 << 12 | MessageFlag.COMPONENTS_V2
INTERACTION_FLAGS = SENDABLE_FLAGS | MessageFlag.EPHEMERAL

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")


def _too_long(path: str, limit: int) -> errors.ApiError:
    return errors.invalid_form_body(
        path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
    )


def validate_message(body: dict[str, Any], *, has_files: bool, creating: bool) -> None:
    """Apply Discord's message limits to a create/edit body."""
    content = body.get("content")
    if content is not None and len(str(content)) > MAX_CONTENT:
        raise _too_long("content", MAX_CONTENT)
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        raise _too_long("embeds", MAX_EMBEDS)
    total = 0
    for index, embed in enumerate(embeds):
        total += _validate_embed(embed, f"embeds.{index}")
    if total > MAX_EMBED_TOTAL:
        raise errors.invalid_form_body(
            "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    _validate_components(body.get("components") or [], int(body.get("flags") or 0))
    _validate_allowed_mentions(body.get("allowed_mentions"))
    if creating and not (
        content or embeds or body.get("components") or body.get("sticker_ids") or has_files
    ):
        raise errors.empty_message()


def _validate_embed(embed: dict[str, Any], path: str) -> int:
    """Check one embed's limits; returns its character count toward the 6000 total."""
    size = 0
    for dotted, limit in EMBED_LIMITS.items():
        value: Any = embed
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            if len(str(value)) > limit:
                raise _too_long(f"{path}.{dotted}", limit)
            size += len(str(value))
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise _too_long(f"{path}.fields", 25)
    for index, embed_field in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            text = str(embed_field.get(key) or "")
            if not text:
                raise errors.invalid_form_body(
                    f"{path}.fields.{index}.{key}", "BASE_TYPE_REQUIRED", "This field is required"
                )
            if len(text) > limit:
                raise _too_long(f"{path}.fields.{index}.{key}", limit)
            size += len(text)
    return size


def _validate_components(components: list[dict[str, Any]], flags: int) -> None:
    """Layout limits for classic action rows; custom_id rules for everything."""
    if not flags & MessageFlag.COMPONENTS_V2:
        if len(components) > MAX_ROWS:
            raise _too_long("components", MAX_ROWS)
        for index, row in enumerate(components):
            if row.get("type") != 1:
                raise errors.invalid_form_body(
                    f"components.{index}.type",
                    "UNION_TYPE_CHOICES",
                    'Value of field "type" must be one of (1,).',
                )
            if len(row.get("components") or []) > MAX_ROW_ITEMS:
                raise _too_long(f"components.{index}.components", MAX_ROW_ITEMS)
    seen: set[str] = set()
    stack = list(components)
    while stack:
        component = stack.pop()
        custom_id = component.get("custom_id")
        if custom_id is not None:
            if len(custom_id) > MAX_CUSTOM_ID:
                raise _too_long("components.custom_id", MAX_CUSTOM_ID)
            if custom_id in seen:
                raise errors.invalid_form_body(
                    "components.custom_id",
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)
        if component.get("type") == 2 and len(component.get("label") or "") > MAX_BUTTON_LABEL:
            raise _too_long("components.label", MAX_BUTTON_LABEL)
        stack.extend(component.get("components") or [])
        stack.extend(component[key] for key in ("component", "accessory") if key in component)


def _validate_allowed_mentions(allowed: dict[str, Any] | None) -> None:
    if not allowed:
        return
    parse = allowed.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            raise errors.invalid_form_body(
                "allowed_mentions",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


class Messaging:
    def __init__(self, world: World, sink: EventSink) -> None:
        self.world = world
        self.sink = sink

    # ------------------------------------------------------------- permissions

    def check_bot_can_post(
        self, channel: Channel, body: dict[str, Any], *, has_files: bool
    ) -> None:
        """Discord's posting rules for the bot: DM reachability, or channel permissions."""
        if channel.type == ChannelType.DM:
            recipient = self.world.users.get(channel.recipient_id or 0)
            if (
                recipient is None
                or recipient.bot
                or not recipient.dm_open
                or not self.world.shares_guild_with_bot(recipient.id)
            ):
                raise errors.cannot_dm()
            return
        perms = self.world.channel_permissions(channel, self.world.bot)
        if not perms & Permission.VIEW_CHANNEL:
            raise errors.missing_access()
        needed = Permission.SEND_MESSAGES
        if body.get("embeds"):
            needed |= Permission.EMBED_LINKS
        if has_files:
            needed |= Permission.ATTACH_FILES
        if perms & needed != needed or not channel.bot_can_send:
            raise errors.missing_permissions()

    def check_bot_can_read(self, channel: Channel) -> None:
        if channel.type == ChannelType.DM:
            return
        perms = self.world.channel_permissions(channel, self.world.bot)
        needed = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY
        if perms & needed != needed:
            raise errors.missing_access()

    # ---------------------------------------------------------------- mentions

    def _resolve_mentions(self, message: Message) -> None:
        """Who actually gets pinged: parsed mentions filtered by allowed_mentions
        (absent allowed_mentions means everything parses)."""
        allowed = message.allowed_mentions
        parse = set(allowed.get("parse") or []) if allowed is not None else None
        allowed_users = {int(u) for u in (allowed or {}).get("users") or []}
        allowed_roles = {int(r) for r in (allowed or {}).get("roles") or []}
        users = [int(u) for u in USER_MENTION.findall(message.content)]
        roles = [int(r) for r in ROLE_MENTION.findall(message.content)]
        message.mention_user_ids = [
            u
            for u in dict.fromkeys(users)
            if u in self.world.users and (parse is None or "users" in parse or u in allowed_users)
        ]
        guild = self.world.guilds.get(message.guild_id or 0)
        message.mention_role_ids = [
            r
            for r in dict.fromkeys(roles)
            if guild is not None
            and r in guild.roles
            and (parse is None or "roles" in parse or r in allowed_roles)
        ]
        wants_everyone = "@everyone" in message.content or "@here" in message.content
        message.mention_everyone = bool(
            wants_everyone
            and guild is not None
            and (parse is None or "everyone" in parse)
            and self.world.permissions(guild, message.author_id) & Permission.MENTION_EVERYONE
        )

    # -------------------------------------------------------------- lifecycle

    def create(
        self,
        channel: Channel,
        author_id: int,
        body: dict[str, Any],
        attachments: list[dict[str, Any]],
        *,
        allowed_flags: int = SENDABLE_FLAGS,
        webhook_id: int | None = None,
        interaction: InteractionOrigin | None = None,
        message_type: int = 0,
    ) -> Message:
        """Store a message and emit MESSAGE_CREATE (ephemeral ones stay private)."""
        message = Message(
            self.world.next_id(),
            channel.id,
            channel.guild_id,
            author_id,
            content=str(body.get("content") or ""),
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            allowed_mentions=body.get("allowed_mentions"),
            flags=int(body.get("flags") or 0) & allowed_flags,
            attachments=attachments,
            type=message_type,
            tts=bool(body.get("tts")),
            webhook_id=webhook_id,
            interaction=interaction,
        )
        self._resolve_mentions(message)
        self.world.messages[message.id] = message
        if not message.ephemeral:
            channel.last_message_id = message.id
        self._emit(message, "MESSAGE_CREATE")
        return message

    def edit(
        self, message: Message, body: dict[str, Any], attachments: list[dict[str, Any]]
    ) -> Message:
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                value = body[key]
                if key == "content":
                    value = str(value or "")
                elif key in ("embeds", "components"):
                    value = list(value or [])
                setattr(message, key, value)
        if "flags" in body and body["flags"] is not None:
            keep = message.flags & MessageFlag.EPHEMERAL
            message.flags = keep | (int(body["flags"]) & SENDABLE_FLAGS)
        message.flags &= ~MessageFlag.LOADING
        if attachments:
            message.attachments = attachments
        message.edited_at = utcnow()
        self._resolve_mentions(message)
        self._emit(message, "MESSAGE_UPDATE")
        return message

    def delete(self, message: Message) -> None:
        message.deleted = True
        if message.ephemeral:
            return
        data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        self._dispatch(message, "MESSAGE_DELETE", data)

    def _emit(self, message: Message, event: str) -> None:
        if not message.ephemeral:
            self._dispatch(message, event, payloads.message_create(self.world, message))

    def _dispatch(self, message: Message, event: str, data: dict[str, Any]) -> None:
        if message.guild_id is None:
            self.sink.dispatch_direct(event, data, intent=Intent.DIRECT_MESSAGES)
        else:
            self.sink.dispatch_guild(message.guild_id, event, data, intent=Intent.GUILD_MESSAGES)
