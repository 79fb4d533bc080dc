"""Interactions: building what Discord sends the bot, and handling what the bot answers.

Slash commands are built from the definitions the bot synced (so a renamed
option or a wrong type fails the test exactly as it would fail in Discord),
button clicks from the components on the bot's own messages, and modal
submissions from the modal the bot opened. Callback and webhook requests are
checked against Discord's interaction rules: answer within 3 seconds, answer
once, follow up only after acknowledging, tokens valid for 15 minutes.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from . import errors, payloads
from .messaging import INTERACTION_FLAGS, Messaging, validate_message
from .signals import ChangeSignal, EventSink
from .world import (
    ApplicationCommand,
    Channel,
    Guild,
    InteractionOrigin,
    Message,
    MessageFlag,
    Permission,
    Role,
    World,
    id_of,
)

TOKEN_LIFETIME = 15 * 60
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class InteractionType(IntEnum):
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    MODAL_SUBMIT = 5


class CallbackType(IntEnum):
    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
    MODAL = 9


class OptionType(IntEnum):
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10


ALLOWED_CALLBACKS = {
    InteractionType.APPLICATION_COMMAND: {4, 5, 9},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    InteractionType.MODAL_SUBMIT: {4, 5, 6, 7},
}


@dataclass
class InteractionCallback:
    """The bot's initial response (`POST /interactions/{id}/{token}/callback`)."""

    type: int
    data: dict[str, Any]
    received_at: float

    @property
    def content(self) -> str | None:
        content = self.data.get("content")
        return None if content is None else str(content)

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.data.get("embeds") or [])

    @property
    def components(self) -> list[dict[str, Any]]:
        return list(self.data.get("components") or [])

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlag.EPHEMERAL)

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        return self.data.get("allowed_mentions")


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: InteractionType
    guild_id: int
    channel_id: int
    user_id: int
    payload: dict[str, Any]
    created_at: float
    dispatched_at: float | None = None
    callback: InteractionCallback | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    source_message_id: int | None = None
    # The first message the bot completed for this interaction (see wait_final).
    final_message_id: int | None = None
    # Callback/webhook requests for this interaction that Discord refused.
    refusals: list[errors.ApiError] = field(default_factory=list)

    def settle(self, message: Message) -> None:
        if self.final_message_id is None:
            self.final_message_id = message.id

    @property
    def response_latency(self) -> float | None:
        """Seconds from INTERACTION_CREATE hitting the socket to the callback arriving."""
        if self.callback is None or self.dispatched_at is None:
            return None
        return self.callback.received_at - self.dispatched_at


class InteractionHandle:
    """What a test holds after triggering an interaction."""

    def __init__(self, record: InteractionRecord, world: World, signal: ChangeSignal) -> None:
        self.record = record
        self._world = world
        self._signal = signal

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def token(self) -> str:
        return self.record.token

    @property
    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE data exactly as dispatched."""
        return self.record.payload

    @property
    def callback(self) -> InteractionCallback | None:
        return self.record.callback

    @property
    def response_latency(self) -> float | None:
        return self.record.response_latency

    @property
    def original(self) -> Message | None:
        message_id = self.record.original_message_id
        return None if message_id is None else self._world.messages.get(message_id)

    @property
    def messages(self) -> list[Message]:
        """The original response then the follow-ups, current state, deleted ones skipped."""
        ids = [self.record.original_message_id, *self.record.followup_ids]
        found = [self._world.messages[i] for i in ids if i is not None]
        return [m for m in found if not m.deleted]

    async def _wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109
        """Like ChangeSignal.wait_until, but a timeout also reports what Discord refused."""
        try:
            return await self._signal.wait_until(predicate, timeout, f"{what} {self.id}")
        except TimeoutError as timeout_error:
            if not self.record.refusals:
                raise
            refused = "; ".join(str(e) for e in self.record.refusals)
            raise TimeoutError(f"{timeout_error} (refused: {refused})") from None

    async def wait_response(self, timeout: float = 5.0) -> InteractionCallback:  # noqa: ASYNC109
        callback: InteractionCallback = await self._wait(
            lambda: self.record.callback, timeout, "a response to interaction"
        )
        return callback

    async def wait_final(self, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        """The settled visible result, in its current state: the reply itself for
        callback types 4/7; after a defer, the first message the bot completed (the
        edited original, or a follow-up)."""

        def settled() -> Message | None:
            callback = self.record.callback
            if callback is not None and callback.type in (8, 9):
                raise RuntimeError(f"interaction {self.id} was answered with type {callback.type}")
            final_id = self.record.final_message_id
            return None if final_id is None else self._world.messages[final_id]

        message: Message = await self._wait(settled, timeout, "the final response to interaction")
        return message

    async def wait_messages(self, count: int, timeout: float = 5.0) -> list[Message]:  # noqa: ASYNC109
        """Wait until the interaction produced at least `count` visible messages."""
        found: list[Message] = await self._wait(
            lambda: self.messages if len(self.messages) >= count else None,
            timeout,
            f"{count} messages from interaction",
        )
        return found


class Interactions:
    def __init__(
        self,
        world: World,
        sink: EventSink,
        messaging: Messaging,
        signal: ChangeSignal,
        *,
        response_window: float,
    ) -> None:
        self.world = world
        self.sink = sink
        self.messaging = messaging
        self.signal = signal
        self.response_window = response_window
        self.records: dict[int, InteractionRecord] = {}
        self._by_token: dict[str, InteractionRecord] = {}

    # ----------------------------------------------------------- build & send

    def slash_command(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: dict[str, Any],
        *,
        subcommand: str | None,
        group: str | None,
        locale: str,
        check_permissions: bool,
    ) -> InteractionRecord:
        guild = self.world.guild(guild_id)
        channel = guild.channels[channel_id]
        command = self.find_command(guild_id, name)
        if check_permissions:
            self._check_can_use(command, channel, user_id)
        resolved: dict[str, dict[str, Any]] = {}
        defs = list(command.definition.get("options") or [])
        if group is not None:
            defs = _child(defs, group, OptionType.SUB_COMMAND_GROUP, f"/{name}")
        if subcommand is not None:
            defs = _child(defs, subcommand, OptionType.SUB_COMMAND, f"/{name} {group or ''}")
        elif any(o.get("type") in (1, 2) for o in defs):
            raise ValueError(f"/{name} has subcommands; pass subcommand= (and group=)")
        data_options = self._fill_options(defs, options, resolved, guild, channel)
        if subcommand is not None:
            data_options = [{"type": 1, "name": subcommand, "options": data_options}]
        if group is not None:
            data_options = [{"type": 2, "name": group, "options": data_options}]
        data: dict[str, Any] = {
            "id": str(command.id),
            "name": command.name,
            "type": 1,
            "options": data_options,
        }
        if resolved:
            data["resolved"] = resolved
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        return self._send(
            InteractionType.APPLICATION_COMMAND, guild, channel, user_id, data, locale=locale
        )

    def component(
        self, message: Message, custom_id: str, user_id: int, values: list[str] | None
    ) -> InteractionRecord:
        if message.deleted:
            raise ValueError(f"message {message.id} was deleted")
        component = _find_component(message.components, custom_id)
        if component is None:
            raise ValueError(
                f"no component {custom_id!r} on message {message.id}; has {message.custom_ids()}"
            )
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; a user cannot use it")
        if (component.get("type") == 2) != (values is None):
            raise ValueError("buttons are clicked without values; selects need values")
        if message.ephemeral and (
            message.interaction is None or user_id != message.interaction.user_id
        ):
            raise PermissionError("only the user who got an ephemeral message can use it")
        channel = self.world.channel(message.channel_id)
        if channel.guild_id is None:
            raise ValueError("components in DMs are not emulated")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None:
            data["values"] = values
        guild = self.world.guild(channel.guild_id)
        return self._send(
            InteractionType.MESSAGE_COMPONENT, guild, channel, user_id, data, message=message
        )

    def modal_submit(
        self, opened_by: InteractionRecord, values: dict[str, str | list[str]]
    ) -> InteractionRecord:
        callback = opened_by.callback
        if callback is None or callback.type != CallbackType.MODAL:
            raise ValueError(f"interaction {opened_by.id} did not open a modal")
        remaining = dict(values)
        components = [_fill_modal(c, remaining) for c in callback.data.get("components", [])]
        if remaining:
            raise ValueError(f"the modal has no inputs named {sorted(remaining)}")
        guild = self.world.guild(opened_by.guild_id)
        channel = guild.channels[opened_by.channel_id]
        data = {"custom_id": callback.data["custom_id"], "components": components}
        source = self.world.messages.get(opened_by.source_message_id or 0)
        return self._send(
            InteractionType.MODAL_SUBMIT, guild, channel, opened_by.user_id, data, message=source
        )

    def find_command(self, guild_id: int, name: str) -> ApplicationCommand:
        """Guild commands shadow global ones, as in Discord's client."""
        chat_inputs = [c for c in self.world.commands.values() if c.type == 1 and c.name == name]
        for scope in (guild_id, None):
            for command in chat_inputs:
                if command.guild_id == scope:
                    return command
        synced = sorted({c.name for c in self.world.commands.values()})
        raise LookupError(f"/{name} is not synced for guild {guild_id}; synced: {synced}")

    def _check_can_use(self, command: ApplicationCommand, channel: Channel, user_id: int) -> None:
        """Discord's client hides commands the user can't use; mirror that."""
        perms = self.world.channel_permissions(channel, user_id)
        if not perms & Permission.USE_APPLICATION_COMMANDS:
            raise PermissionError(f"user {user_id} cannot use application commands here")
        required = command.definition.get("default_member_permissions")
        if required is not None and perms & int(required) != int(required):
            raise PermissionError(
                f"/{command.name} needs permissions {required}; Discord hides it from {user_id}"
            )

    def _fill_options(
        self,
        defs: list[dict[str, Any]],
        given: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        guild: Guild,
        channel: Channel,
    ) -> list[dict[str, Any]]:
        unknown = set(given) - {d["name"] for d in defs}
        if unknown:
            raise ValueError(
                f"unknown options {sorted(unknown)}; defined: {[d['name'] for d in defs]}"
            )
        filled = []
        for definition in defs:
            name = definition["name"]
            if name not in given:
                if definition.get("required"):
                    raise ValueError(f"option {name!r} is required")
                continue
            value = self._option_value(definition, given[name], resolved, guild, channel)
            filled.append({"type": definition["type"], "name": name, "value": value})
        return filled

    def _option_value(
        self,
        definition: dict[str, Any],
        raw: Any,
        resolved: dict[str, dict[str, Any]],
        guild: Guild,
        channel: Channel,
    ) -> Any:
        kind = definition["type"]
        if kind in (OptionType.USER, OptionType.MENTIONABLE) and not isinstance(raw, Role):
            user_id = id_of(raw)
            if kind == OptionType.MENTIONABLE and user_id in guild.roles:
                return self._resolve_role(guild, user_id, resolved)
            return self._resolve_user(guild, channel, user_id, resolved)
        if kind in (OptionType.ROLE, OptionType.MENTIONABLE):
            return self._resolve_role(guild, id_of(raw), resolved)
        if kind == OptionType.CHANNEL:
            target = self.world.channel(id_of(raw))
            perms = self.world.channel_permissions(target, self.world.bot)
            resolved.setdefault("channels", {})[str(target.id)] = {
                key: value
                for key, value in payloads.channel(self.world, target, permissions=perms).items()
                if key in ("id", "name", "type", "permissions", "parent_id", "guild_id")
            }
            return str(target.id)
        value = _coerce_scalar(kind, raw, definition["name"])
        _check_constraints(definition, value)
        return value

    def _resolve_user(
        self, guild: Guild, channel: Channel, user_id: int, resolved: dict[str, dict[str, Any]]
    ) -> str:
        user = self.world.users.get(user_id)
        if user is None:
            raise ValueError(f"user {user_id} does not exist; a client cannot pick them")
        resolved.setdefault("users", {})[str(user_id)] = payloads.user(user)
        member = guild.members.get(user_id)
        if member is not None:
            perms = self.world.channel_permissions(channel, user_id)
            resolved.setdefault("members", {})[str(user_id)] = payloads.member(
                self.world, member, with_user=False
            ) | {"permissions": str(perms)}
        return str(user_id)

    def _resolve_role(self, guild: Guild, role_id: int, resolved: dict[str, dict[str, Any]]) -> str:
        role = guild.roles.get(role_id)
        if role is None:
            raise ValueError(f"role {role_id} is not in guild {guild.id}")
        resolved.setdefault("roles", {})[str(role_id)] = payloads.role(role)
        return str(role_id)

    def _send(
        self,
        kind: InteractionType,
        guild: Guild,
        channel: Channel,
        user_id: int,
        data: dict[str, Any],
        *,
        locale: str = "en-US",
        message: Message | None = None,
    ) -> InteractionRecord:
        member = guild.members.get(user_id)
        if member is None:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}")
        perms = self.world.channel_permissions(channel, user_id)
        interaction_id = self.world.next_id()
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.world.application_id),
            "type": int(kind),
            "data": data,
            "token": f"aW50ZXJhY3Rpb246{secrets.token_urlsafe(60)}",
            "version": 1,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            "guild_locale": guild.preferred_locale,
            "channel_id": str(channel.id),
            "channel": payloads.channel(self.world, channel, permissions=perms),
            "member": payloads.member(self.world, member) | {"permissions": str(perms)},
            "app_permissions": str(self.world.channel_permissions(channel, self.world.bot)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if message is not None:
            payload["message"] = payloads.message(self.world, message)
        record = InteractionRecord(
            interaction_id,
            payload["token"],
            kind,
            guild.id,
            channel.id,
            user_id,
            payload,
            time.monotonic(),
            source_message_id=message.id if message else None,
        )
        self.records[record.id] = record
        self._by_token[record.token] = record
        delivered = self.sink.dispatch_guild(
            guild.id, "INTERACTION_CREATE", payload, intent=None, on_sent=_first_send(record)
        )
        if not delivered:
            raise RuntimeError(f"no gateway session owns the shard of guild {guild.id}")
        return record

    # ------------------------------------------------------ callback (REST)

    def callback(
        self,
        interaction_id: int,
        token: str,
        body: dict[str, Any],
        attachments: list[dict[str, Any]],
        *,
        with_response: bool,
    ) -> dict[str, Any] | None:
        record = self.records.get(interaction_id)
        if record is None or record.token != token:
            raise errors.unknown_interaction()
        with _noting_refusals(record):
            return self._callback(record, body, attachments, with_response=with_response)

    def _callback(
        self,
        record: InteractionRecord,
        body: dict[str, Any],
        attachments: list[dict[str, Any]],
        *,
        with_response: bool,
    ) -> dict[str, Any] | None:
        now = time.monotonic()
        if record.callback is not None:
            raise errors.already_acknowledged()
        if now - (record.dispatched_at or record.created_at) > self.response_window:
            # The user already saw "The application did not respond".
            raise errors.unknown_interaction()
        kind = int(body.get("type") or 0)
        data = dict(body.get("data") or {})
        if kind not in ALLOWED_CALLBACKS[record.type]:
            raise errors.invalid_form_body(
                "type", "INTERACTION_CALLBACK_TYPE_INVALID", "Invalid interaction response type"
            )
        message = self._apply_callback(record, kind, data, attachments)
        record.callback = InteractionCallback(kind, data, now)
        if message is not None and kind in (4, 7):
            record.settle(message)
        self.signal.pulse()
        if not with_response:
            return None
        response: dict[str, Any] = {
            "interaction": {
                "id": str(record.id),
                "type": int(record.type),
                "response_message_id": None if message is None else str(message.id),
                "response_message_loading": kind
                == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                "response_message_ephemeral": bool(message and message.ephemeral),
            }
        }
        if kind in (4, 7) and message is not None:
            response["resource"] = {"type": kind, "message": payloads.message(self.world, message)}
        elif kind == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            response["resource"] = {"type": kind}
        return response

    def _apply_callback(
        self,
        record: InteractionRecord,
        kind: int,
        data: dict[str, Any],
        attachments: list[dict[str, Any]],
    ) -> Message | None:
        channel = self.world.channel(record.channel_id)
        message: Message | None
        if kind == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            validate_message(data, has_files=bool(attachments), creating=True)
            message = self._reply(record, channel, data, attachments)
        elif kind == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            flags = MessageFlag.LOADING | (int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            message = self._reply(record, channel, {"flags": int(flags)}, [])
        elif kind in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            message = self.world.messages.get(record.source_message_id or 0)
            if message is None:
                raise errors.unknown_message()
            record.original_message_id = message.id
            if kind == CallbackType.UPDATE_MESSAGE:
                validate_message(data, has_files=bool(attachments), creating=False)
                self.messaging.edit(message, data, attachments)
        else:
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise errors.invalid_form_body(
                    "data", "BASE_TYPE_REQUIRED", "A modal needs custom_id, title and components"
                )
            message = None
        return message

    def _reply(
        self,
        record: InteractionRecord,
        channel: Channel,
        data: dict[str, Any],
        attachments: list[dict[str, Any]],
    ) -> Message:
        original = record.original_message_id is None
        message = self.messaging.create(
            channel,
            self.world.bot.id,
            data,
            attachments,
            allowed_flags=INTERACTION_FLAGS | MessageFlag.LOADING,
            webhook_id=self.world.application_id,
            interaction=InteractionOrigin(record.id, record.type, record.user_id),
            message_type=20 if record.type == InteractionType.APPLICATION_COMMAND else 0,
        )
        if original:
            record.original_message_id = message.id
        else:
            record.followup_ids.append(message.id)
        return message

    # ------------------------------------------------------- webhook (REST)

    def webhook_record(self, application_id: int, token: str) -> InteractionRecord:
        record = self._by_token.get(token)
        if (
            application_id != self.world.application_id
            or record is None
            or time.monotonic() - record.created_at > TOKEN_LIFETIME
        ):
            raise errors.unknown_webhook()
        if record.callback is None:
            # Follow-ups and edits need an acknowledged interaction.
            with _noting_refusals(record):
                raise errors.unknown_webhook()
        return record

    def followup(
        self, record: InteractionRecord, body: dict[str, Any], attachments: list[dict[str, Any]]
    ) -> Message:
        with _noting_refusals(record):
            validate_message(body, has_files=bool(attachments), creating=True)
        original = self.world.messages.get(record.original_message_id or 0)
        if original is not None and original.loading and not original.deleted:
            # Discord turns the first follow-up after a "thinking" defer into the reply.
            edit = {k: v for k, v in body.items() if k != "flags"}
            message = self.messaging.edit(original, edit, attachments)
        else:
            message = self._reply(record, self.world.channel(record.channel_id), body, attachments)
        record.settle(message)
        self.signal.pulse()
        return message

    def edit_message(
        self,
        record: InteractionRecord,
        ref: str,
        body: dict[str, Any],
        attachments: list[dict[str, Any]],
    ) -> Message:
        with _noting_refusals(record):
            message = self.webhook_message(record, ref)
            validate_message(body, has_files=bool(attachments), creating=False)
        self.messaging.edit(message, body, attachments)
        record.settle(message)
        self.signal.pulse()
        return message

    def delete_message(self, record: InteractionRecord, ref: str) -> None:
        with _noting_refusals(record):
            message = self.webhook_message(record, ref)
        self.messaging.delete(message)
        self.signal.pulse()

    def webhook_message(self, record: InteractionRecord, ref: str) -> Message:
        if ref == "@original":
            message_id = record.original_message_id
        else:
            try:
                message_id = int(ref)
            except ValueError:
                raise errors.unknown_message() from None
        if message_id is None or message_id not in (
            record.original_message_id,
            *record.followup_ids,
        ):
            raise errors.unknown_message()
        message = self.world.messages[message_id]
        if message.deleted:
            raise errors.unknown_message()
        return message


@contextlib.contextmanager
def _noting_refusals(record: InteractionRecord) -> Iterator[None]:
    """Remember Discord's refusals on the interaction so waits can explain timeouts."""
    try:
        yield
    except errors.ApiError as error:
        record.refusals.append(error)
        raise


def _first_send(record: InteractionRecord) -> Callable[[float], None]:
    def sent(at: float) -> None:
        if record.dispatched_at is None:
            record.dispatched_at = at

    return sent


def _child(
    defs: list[dict[str, Any]], name: str, kind: OptionType, where: str
) -> list[dict[str, Any]]:
    for option in defs:
        if option.get("name") == name and option.get("type") == kind:
            return list(option.get("options") or [])
    raise ValueError(f"{where.strip()} has no {kind.name.lower()} {name!r}")


def _coerce_scalar(kind: int, raw: Any, name: str) -> Any:
    """The JSON value a Discord client sends for a typed scalar option."""
    if kind == OptionType.STRING:
        return str(raw)
    if kind == OptionType.INTEGER and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind == OptionType.BOOLEAN and isinstance(raw, bool):
        return raw
    if kind == OptionType.NUMBER and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    raise ValueError(f"option {name!r} of type {kind} cannot take {raw!r}")


def _check_constraints(definition: dict[str, Any], value: Any) -> None:
    """Choices and ranges the Discord client enforces before sending."""
    name = definition["name"]
    choices = definition.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"{value!r} is not a choice of {name!r}: {choices}")
    low, high = definition.get("min_value"), definition.get("max_value")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{value!r} is outside [{low}, {high}] for {name!r}")
    if isinstance(value, str):
        shortest, longest = definition.get("min_length", 0), definition.get("max_length", 6000)
        if not shortest <= len(value) <= longest:
            raise ValueError(f"{name!r} must be {shortest}..{longest} characters")


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    stack = list(components)
    while stack:
        component = stack.pop()
        if component.get("custom_id") == custom_id:
            return component
        stack.extend(component.get("components") or [])
        stack.extend(component[key] for key in ("component", "accessory") if key in component)
    return None


def _fill_modal(component: dict[str, Any], values: dict[str, str | list[str]]) -> dict[str, Any]:
    """Mirror the modal's layout with the user's input, as Discord's client submits it.
    Consumes the entries it uses from `values`."""
    kind = component.get("type")
    if kind == 1:
        return {"type": 1, "components": [_fill_modal(c, values) for c in component["components"]]}
    if kind == 18:
        return {"type": 18, "component": _fill_modal(component["component"], values)}
    custom_id = component.get("custom_id")
    if custom_id is None:
        return {"type": kind}
    value = values.pop(custom_id, None)
    if kind == 4:
        text = "" if value is None else str(value)
        if component.get("required", True) and not text:
            raise ValueError(f"modal input {custom_id!r} is required")
        return {"type": 4, "custom_id": custom_id, "value": text}
    chosen = [] if value is None else [value] if isinstance(value, str) else list(value)
    return {"type": kind, "custom_id": custom_id, "values": chosen}
