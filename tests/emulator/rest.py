"""The REST API under /api/v10: routing, request log, fault injection and handlers.

A single catch-all aiohttp handler records every request first (so tests can
assert on exactly what the bot sent, including refused and faulted calls),
then applies injected latency/faults, Discord's route table, authentication
and rate limits (`ratelimits`, off unless a test enables them). Handlers
return JSON-able data (200), None (204), or raise `ApiError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from . import errors, payloads
from .errors import ApiError
from .gateway import GatewayHub
from .interactions import Interactions
from .messaging import Messaging, validate_message
from .moderation import MemberEdit, Moderation
from .ratelimits import RateLimited, RateLimits
from .signals import ChangeSignal, Intent
from .world import (
    ApplicationCommand,
    Channel,
    ChannelType,
    Guild,
    Message,
    Permission,
    World,
)

log = logging.getLogger(__name__)

MAX_REASON = 512
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


@dataclass
class RequestRecord:
    """One HTTP request as the emulator received it, plus how it was answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    reason: str | None
    received_at: float
    files: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None
    response: Any = None


@dataclass
class FaultRule:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int | None
    retry_after: float

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.fullmatch(path) is not None


@dataclass
class LatencyRule:
    method: str
    pattern: re.Pattern[str]
    seconds: float

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.fullmatch(path) is not None


@dataclass
class ApiCall:
    """What a handler gets: path parameters, query, decoded body, audit reason."""

    params: dict[str, str]
    query: dict[str, str]
    json: Any
    attachments: list[dict[str, Any]]
    reason: str | None

    def snowflake(self, name: str) -> int:
        return _snowflake(self.params[name])

    def query_id(self, name: str, default: int = 0) -> int:
        raw = self.query.get(name)
        return default if raw is None else _snowflake(raw)

    def body(self) -> dict[str, Any]:
        return self.json if isinstance(self.json, dict) else {}


Handler = Callable[[ApiCall], Awaitable[Any]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    auth: bool = True
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        parts = re.split(r"\{(\w+)\}", self.template)  # literal, name, literal, ...
        self.pattern = re.compile(
            "".join(
                re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
                for index, part in enumerate(parts)
            )
        )


def _snowflake(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise errors.invalid_form_body(
            "snowflake", "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.'
        ) from None


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py only parses bodies whose content-type is exactly "application/json".
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def parse_timestamp(field_name: str, raw: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError:
        raise errors.invalid_form_body(
            field_name, "DATE_TIME_TYPE_PARSE", f"Could not parse {raw}. Should be ISO8601."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RestApi:
    def __init__(
        self,
        world: World,
        token: str,
        *,
        signal: ChangeSignal,
        gateway: GatewayHub,
        moderation: Moderation,
        messaging: Messaging,
        interactions: Interactions,
        recommended_shards: int,
        application_flags: int,
        max_concurrency: int = 1,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.world = world
        self.token = token
        self.signal = signal
        self.gateway = gateway
        self.moderation = moderation
        self.messaging = messaging
        self.interactions = interactions
        self.recommended_shards = recommended_shards
        # Sessions Discord lets the bot start at once (one per bucket, shard_id % this).
        self.max_concurrency = max_concurrency
        self.application_flags = application_flags
        self.requests: list[RequestRecord] = []
        self.faults: list[FaultRule] = []
        self.latencies: list[LatencyRule] = []
        self.internal_errors: list[Exception] = []
        self.routes = self._route_table()
        self.rate_limits = RateLimits() if rate_limits is None else rate_limits
        self.rate_limits.routes = {(r.method, r.template) for r in self.routes}

    # ------------------------------------------------------------- plumbing

    async def handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        record = RequestRecord(
            request.method,
            path,
            dict(request.query),
            None,
            dict(request.headers),
            None,
            time.monotonic(),
        )
        self.requests.append(record)
        headers: dict[str, str] = {}
        try:
            record.json, record.files = await self._read_body(request)
            header = request.headers.get("X-Audit-Log-Reason")
            record.reason = None if header is None else unquote(header)
            await self._inject_latency(record.method, path)
            self._inject_fault(record.method, path, headers)
            route, params = self._match(record.method, path)
            if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                raise errors.unauthorized()
            # Interaction endpoints (no bot token) are exempt from the global limit.
            headers.update(
                self.rate_limits.admit(
                    record.method, path, route.template, params, counts_globally=route.auth
                )
            )
            if record.reason is not None and len(record.reason) > MAX_REASON:
                raise errors.invalid_form_body(
                    "audit_log_reason",
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {MAX_REASON} or fewer in length.",
                )
            call = ApiCall(params, record.query, record.json, record.files, record.reason)
            result = await route.handler(call)
        except RateLimited as limited:
            headers.update(limited.headers)
            record.status, record.response = limited.status, limited.body()
        except ApiError as error:
            record.status, record.response = error.status, error.body()
        except Exception as crash:
            # An emulator bug must fail the test, not look like a Discord outage:
            # discord.py would retry a 5xx for ~25 s. Answer 400 and keep the error.
            log.exception("emulator crashed handling %s %s", record.method, path)
            self.internal_errors.append(crash)
            record.status = 400
            record.response = {"message": f"Emulator internal error: {crash!r}", "code": 0}
        else:
            record.status, record.response = (204, None) if result is None else (200, result)
        finally:
            self.signal.pulse()
        if record.status == 204:
            return web.Response(status=204, headers=headers)
        return _json_response(record.status, record.response, headers)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        """JSON bodies, or multipart with `payload_json` plus `files[n]` parts."""
        if request.content_type.startswith("multipart/"):
            body: Any = None
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    body = _loads(await part.text())
                elif part.filename:
                    content = await part.read()
                    attachment_id = self.world.next_id()
                    url = (
                        f"https://cdn.discordapp.com/attachments/0/{attachment_id}/{part.filename}"
                    )
                    files.append(
                        {
                            "id": str(attachment_id),
                            "filename": part.filename,
                            "size": len(content),
                            "url": url,
                            "proxy_url": url,
                            "content_type": part.headers.get("Content-Type"),
                        }
                    )
            return body, files
        raw = await request.read()
        return (_loads(raw.decode()) if raw else None), []

    async def _inject_latency(self, method: str, path: str) -> None:
        delay = sum(rule.seconds for rule in self.latencies if rule.matches(method, path))
        if delay:
            await asyncio.sleep(delay)

    def _inject_fault(self, method: str, path: str, headers: dict[str, str]) -> None:
        for rule in self.faults:
            if not rule.matches(method, path):
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self.faults.remove(rule)
            if rule.status == 429:
                # discord.py only honours a 429 that came through Discord's proxy (Via).
                headers.update({"Via": "1.1 google", "Retry-After": str(rule.retry_after)})
                raise _RateLimited(rule.retry_after, rule.message)
            raise ApiError(rule.status, rule.code, rule.message)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        path_matched = False
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if route.method == method:
                return route, match.groupdict()
            path_matched = True
        raise errors.method_not_allowed() if path_matched else errors.not_found()

    def _route_table(self) -> list[Route]:
        g = "/guilds/{guild_id}"
        hook = "/webhooks/{application_id}/{token}"
        return [
            Route("GET", "/gateway", self.get_gateway, auth=False),
            Route("GET", "/gateway/bot", self.get_gateway_bot),
            Route("GET", "/users/@me", self.get_me),
            Route("POST", "/users/@me/channels", self.create_dm),
            Route("GET", "/users/@me/guilds", self.my_guilds),
            Route("GET", "/users/{user_id}", self.get_user),
            Route("GET", "/oauth2/applications/@me", self.get_application),
            Route("GET", "/applications/@me", self.get_application),
            Route("GET", "/applications/{application_id}/commands", self.get_commands),
            Route("PUT", "/applications/{application_id}/commands", self.put_commands),
            Route("GET", "/applications/{application_id}" + g + "/commands", self.get_commands),
            Route("PUT", "/applications/{application_id}" + g + "/commands", self.put_commands),
            Route(
                "POST",
                "/interactions/{interaction_id}/{token}/callback",
                self.interaction_callback,
                auth=False,
            ),
            Route("POST", hook, self.webhook_followup, auth=False),
            Route("GET", hook + "/messages/{message_id}", self.webhook_get, auth=False),
            Route("PATCH", hook + "/messages/{message_id}", self.webhook_edit, auth=False),
            Route("DELETE", hook + "/messages/{message_id}", self.webhook_delete, auth=False),
            Route("GET", g, self.get_guild),
            Route("GET", g + "/roles", self.get_roles),
            Route("GET", g + "/channels", self.get_guild_channels),
            Route("GET", g + "/members", self.list_members),
            Route("GET", g + "/members/{user_id}", self.get_member),
            Route("PATCH", g + "/members/{user_id}", self.edit_member),
            Route("DELETE", g + "/members/{user_id}", self.kick),
            Route("PUT", g + "/members/{user_id}/roles/{role_id}", self.add_role),
            Route("DELETE", g + "/members/{user_id}/roles/{role_id}", self.remove_role),
            Route("GET", g + "/bans", self.list_bans),
            Route("GET", g + "/bans/{user_id}", self.get_ban),
            Route("PUT", g + "/bans/{user_id}", self.ban),
            Route("DELETE", g + "/bans/{user_id}", self.unban),
            Route("POST", g + "/bulk-ban", self.bulk_ban),
            Route("GET", g + "/audit-logs", self.audit_logs),
            Route("GET", "/channels/{channel_id}", self.get_channel),
            Route("GET", "/channels/{channel_id}/messages", self.list_messages),
            Route("POST", "/channels/{channel_id}/messages", self.create_message),
            Route("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            Route("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            Route("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
        ]

    # --------------------------------------------------------------- lookups

    def _guild(self, call: ApiCall) -> Guild:
        guild = self.world.guilds.get(call.snowflake("guild_id"))
        if guild is None:
            raise errors.unknown_guild()
        if self.world.bot.id not in guild.members:
            raise errors.missing_access()
        return guild

    def _user_id(self, call: ApiCall) -> int:
        raw = call.params["user_id"]
        return self.world.bot.id if raw == "@me" else _snowflake(raw)

    def _channel(self, call: ApiCall) -> Channel:
        channel = self.world.channels.get(call.snowflake("channel_id"))
        if channel is None:
            raise errors.unknown_channel()
        if channel.guild_id is not None:
            guild = self.world.guild(channel.guild_id)
            perms = self.world.channel_permissions(channel, self.world.bot)
            if self.world.bot.id not in guild.members or not perms & Permission.VIEW_CHANNEL:
                raise errors.missing_access()
        return channel

    def _message(self, call: ApiCall, channel: Channel) -> Message:
        message = self.world.messages.get(call.snowflake("message_id"))
        if message is None or message.channel_id != channel.id or message.deleted:
            raise errors.unknown_message()
        if message.ephemeral:
            raise errors.unknown_message()
        return message

    def _require(self, guild: Guild, permission: int) -> None:
        if self.world.permissions(guild, self.world.bot) & permission != permission:
            raise errors.missing_permissions()

    # ---------------------------------------------------------- gateway/users

    async def get_gateway(self, call: ApiCall) -> Any:
        return {"url": self.gateway.gateway_url}

    async def get_gateway_bot(self, call: ApiCall) -> Any:
        return {
            "url": self.gateway.gateway_url,
            "shards": self.recommended_shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": self.max_concurrency,
            },
        }

    async def get_me(self, call: ApiCall) -> Any:
        return payloads.current_user(self.world.bot)

    async def get_user(self, call: ApiCall) -> Any:
        user = self.world.users.get(call.snowflake("user_id"))
        if user is None:
            raise errors.unknown_user()
        return payloads.user(user)

    async def my_guilds(self, call: ApiCall) -> Any:
        """Partial guilds the bot is in, by id: `after` pages forward, `before` back."""
        limit = _bounded(call.query.get("limit"), 200, 1, 200, "limit")
        ids = sorted(g.id for g in self.world.guilds.values() if self.world.bot.id in g.members)
        if "before" in call.query:
            ids = [i for i in ids if i < call.query_id("before")][-limit:]
        else:
            ids = [i for i in ids if i > call.query_id("after")][:limit]
        counts = call.query.get("with_counts", "").lower() in ("1", "true")
        return [payloads.partial_guild(self.world, self.world.guild(i), counts) for i in ids]

    async def get_application(self, call: ApiCall) -> Any:
        return payloads.application(self.world, self.application_flags)

    async def create_dm(self, call: ApiCall) -> Any:
        recipient = self.world.users.get(_snowflake(str(call.body().get("recipient_id"))))
        if recipient is None:
            raise errors.unknown_user()
        return payloads.channel(self.world, self.world.dm_channel_with(recipient))

    # --------------------------------------------------------------- commands

    def _command_scope(self, call: ApiCall) -> int | None:
        if call.snowflake("application_id") != self.world.application_id:
            raise errors.missing_access()
        return self._guild(call).id if "guild_id" in call.params else None

    async def get_commands(self, call: ApiCall) -> Any:
        scope = self._command_scope(call)
        return [payloads.command(c) for c in self.world.commands.values() if c.guild_id == scope]

    async def put_commands(self, call: ApiCall) -> Any:
        """Bulk overwrite: same (type, name) keeps its id, missing ones are deleted."""
        scope = self._command_scope(call)
        definitions = call.json if isinstance(call.json, list) else []
        if len(definitions) > 100:
            raise errors.invalid_form_body("", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer.")
        seen: set[tuple[int, str]] = set()
        for index, definition in enumerate(definitions):
            _validate_command(definition, str(index))
            key = (int(definition.get("type", 1)), definition["name"])
            if key in seen:
                raise errors.invalid_form_body(
                    str(index), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Duplicate command name"
                )
            seen.add(key)
        existing = {
            (c.type, c.name): c for c in self.world.commands.values() if c.guild_id == scope
        }
        for command in existing.values():
            del self.world.commands[command.id]
        result = []
        for definition in definitions:
            kind = int(definition.get("type", 1))
            old = existing.get((kind, definition["name"]))
            unchanged = old is not None and old.definition == definition
            command = ApplicationCommand(
                old.id if old else self.world.next_id(),
                self.world.application_id,
                scope,
                definition["name"],
                kind,
                definition,
                old.version if old and unchanged else self.world.next_id(),
            )
            self.world.commands[command.id] = command
            result.append(payloads.command(command))
        return result

    # ----------------------------------------------------------- interactions

    async def interaction_callback(self, call: ApiCall) -> Any:
        return self.interactions.callback(
            call.snowflake("interaction_id"),
            call.params["token"],
            call.body(),
            call.attachments,
            with_response=call.query.get("with_response", "").lower() in ("1", "true"),
        )

    async def webhook_followup(self, call: ApiCall) -> Any:
        record = self.interactions.webhook_record(
            call.snowflake("application_id"), call.params["token"]
        )
        message = self.interactions.followup(record, call.body(), call.attachments)
        wait = call.query.get("wait", "false").lower() in ("1", "true")
        return payloads.message(self.world, message) if wait else None

    async def webhook_get(self, call: ApiCall) -> Any:
        record = self.interactions.webhook_record(
            call.snowflake("application_id"), call.params["token"]
        )
        message = self.interactions.webhook_message(record, call.params["message_id"])
        return payloads.message(self.world, message)

    async def webhook_edit(self, call: ApiCall) -> Any:
        record = self.interactions.webhook_record(
            call.snowflake("application_id"), call.params["token"]
        )
        message = self.interactions.edit_message(
            record, call.params["message_id"], call.body(), call.attachments
        )
        return payloads.message(self.world, message)

    async def webhook_delete(self, call: ApiCall) -> Any:
        record = self.interactions.webhook_record(
            call.snowflake("application_id"), call.params["token"]
        )
        self.interactions.delete_message(record, call.params["message_id"])
        return None

    # ------------------------------------------------------------------ guild

    async def get_guild(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        data = payloads.guild(self.world, guild)
        if call.query.get("with_counts", "").lower() in ("1", "true"):
            data["approximate_member_count"] = len(guild.members)
            data["approximate_presence_count"] = 0
        return data

    async def get_roles(self, call: ApiCall) -> Any:
        return payloads.guild(self.world, self._guild(call))["roles"]

    async def get_guild_channels(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        return [payloads.channel(self.world, c) for c in guild.channels.values()]

    async def list_members(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        if not self.gateway.privileged_intents & Intent.GUILD_MEMBERS:
            raise errors.missing_access()
        limit = _bounded(call.query.get("limit"), 1, 1, 1000, "limit")
        after = call.query_id("after")
        members = sorted(
            (m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id
        )
        return [payloads.member(self.world, m) for m in members[:limit]]

    async def get_member(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        member = guild.members.get(self._user_id(call))
        if member is None:
            raise errors.unknown_member()
        return payloads.member(self.world, member)

    async def edit_member(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        body = call.body()
        edit = MemberEdit()
        if "communication_disabled_until" in body:
            edit.set_timeout = True
            edit.timeout_until = parse_timestamp(
                "communication_disabled_until", body["communication_disabled_until"]
            )
        if "roles" in body:
            edit.roles = [_snowflake(str(r)) for r in body["roles"] or []]
        if "nick" in body:
            edit.set_nick = True
            edit.nick = body["nick"] or None
        member = self.moderation.edit_member(
            guild.id, self.world.bot.id, self._user_id(call), edit, call.reason
        )
        return payloads.member(self.world, member)

    async def kick(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        self.moderation.kick(guild.id, self.world.bot.id, self._user_id(call), call.reason)

    async def add_role(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        self.moderation.change_roles(
            guild.id,
            self.world.bot.id,
            self._user_id(call),
            call.reason,
            add=(call.snowflake("role_id"),),
        )

    async def remove_role(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        self.moderation.change_roles(
            guild.id,
            self.world.bot.id,
            self._user_id(call),
            call.reason,
            remove=(call.snowflake("role_id"),),
        )

    async def list_bans(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        self._require(guild, Permission.BAN_MEMBERS)
        limit = _bounded(call.query.get("limit"), 1000, 1, 1000, "limit")
        ids = sorted(guild.bans)
        if "before" in call.query:
            ids = [i for i in ids if i < call.query_id("before")][-limit:]
        else:
            ids = [i for i in ids if i > call.query_id("after")][:limit]
        return [payloads.ban(self.world, guild, i) for i in ids]

    async def get_ban(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        self._require(guild, Permission.BAN_MEMBERS)
        user_id = self._user_id(call)
        if user_id not in guild.bans:
            raise errors.unknown_ban()
        return payloads.ban(self.world, guild, user_id)

    async def ban(self, call: ApiCall) -> Any:
        # discord.py sends delete_message_seconds as a query parameter; the docs
        # put it in the JSON body. Discord accepts both, so does the emulator.
        guild = self._guild(call)
        raw = call.body().get("delete_message_seconds", call.query.get("delete_message_seconds", 0))
        seconds = _integer(raw, "delete_message_seconds")
        self.moderation.ban(guild.id, self.world.bot.id, self._user_id(call), call.reason, seconds)

    async def unban(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        self.moderation.unban(guild.id, self.world.bot.id, self._user_id(call), call.reason)

    async def bulk_ban(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        body = call.body()
        user_ids = [_snowflake(str(u)) for u in body.get("user_ids") or []]
        seconds = _integer(body.get("delete_message_seconds", 0), "delete_message_seconds")
        banned, failed = self.moderation.bulk_ban(
            guild.id, self.world.bot.id, user_ids, call.reason, seconds
        )
        return {"banned_users": [str(u) for u in banned], "failed_users": [str(u) for u in failed]}

    async def audit_logs(self, call: ApiCall) -> Any:
        guild = self._guild(call)
        self._require(guild, Permission.VIEW_AUDIT_LOG)
        query = call.query
        limit = _bounded(query.get("limit"), 50, 1, 100, "limit")
        entries = list(guild.audit_log)
        if "user_id" in query:
            entries = [e for e in entries if e.user_id == call.query_id("user_id")]
        if "action_type" in query:
            entries = [e for e in entries if e.action_type == call.query_id("action_type")]
        if "before" in query:
            entries = [e for e in entries if e.id < call.query_id("before")]
        if "after" in query:
            entries = [e for e in entries if e.id > call.query_id("after")]
        # Newest first, except paging forward with only `after` (oldest first).
        ascending = "after" in query and "before" not in query
        entries = sorted(entries, key=lambda e: e.id, reverse=not ascending)[:limit]
        user_ids = {i for e in entries for i in (e.user_id, e.target_id) if i in self.world.users}
        return {
            "audit_log_entries": [payloads.audit_entry(e) for e in entries],
            "users": [payloads.user(self.world.users[i]) for i in sorted(user_ids)],
            "integrations": [],
            "webhooks": [],
            "application_commands": [],
            "threads": [],
            "auto_moderation_rules": [],
            "guild_scheduled_events": [],
        }

    # --------------------------------------------------------------- channels

    async def get_channel(self, call: ApiCall) -> Any:
        return payloads.channel(self.world, self._channel(call))

    async def list_messages(self, call: ApiCall) -> Any:
        channel = self._channel(call)
        self.messaging.check_bot_can_read(channel)
        limit = _bounded(call.query.get("limit"), 50, 1, 100, "limit")
        messages = sorted(
            (
                m
                for m in self.world.messages.values()
                if m.channel_id == channel.id and not m.deleted and not m.ephemeral
            ),
            key=lambda m: m.id,
            reverse=True,
        )
        if "before" in call.query:
            messages = [m for m in messages if m.id < call.query_id("before")]
        if "after" in call.query:
            messages = [m for m in messages if m.id > call.query_id("after")][-limit:]
        return [payloads.message(self.world, m) for m in messages[:limit]]

    async def create_message(self, call: ApiCall) -> Any:
        channel = self._channel_for_post(call)
        body = call.body()
        has_files = bool(call.attachments)
        self.messaging.check_bot_can_post(channel, body, has_files=has_files)
        validate_message(body, has_files=has_files, creating=True)
        message = self.messaging.create(channel, self.world.bot.id, body, call.attachments)
        return payloads.message(self.world, message)

    def _channel_for_post(self, call: ApiCall) -> Channel:
        channel = self.world.channels.get(call.snowflake("channel_id"))
        if channel is None:
            raise errors.unknown_channel()
        if channel.type != ChannelType.DM:
            return self._channel(call)
        return channel

    async def get_message(self, call: ApiCall) -> Any:
        channel = self._channel(call)
        self.messaging.check_bot_can_read(channel)
        return payloads.message(self.world, self._message(call, channel))

    async def edit_message(self, call: ApiCall) -> Any:
        channel = self._channel(call)
        message = self._message(call, channel)
        if message.author_id != self.world.bot.id or message.webhook_id is not None:
            raise errors.cannot_edit_other_users_message()
        validate_message(call.body(), has_files=bool(call.attachments), creating=False)
        self.messaging.edit(message, call.body(), call.attachments)
        return payloads.message(self.world, message)

    async def delete_message(self, call: ApiCall) -> Any:
        channel = self._channel(call)
        message = self._message(call, channel)
        if message.author_id != self.world.bot.id:
            perms = self.world.channel_permissions(channel, self.world.bot)
            if not perms & Permission.MANAGE_MESSAGES:
                raise errors.missing_permissions()
        self.messaging.delete(message)


class _RateLimited(ApiError):
    """An injected 429 in Discord's shape (retry_after in the body)."""

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(429, 0, message)
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "retry_after": self.retry_after,
            "global": False,
            "code": 0,
        }


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise errors.invalid_json() from None


def _integer(raw: Any, name: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise errors.invalid_form_body(
            name, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not int.'
        ) from None


def _bounded(raw: str | None, default: int, low: int, high: int, name: str) -> int:
    value = default if raw is None else _integer(raw, name)
    if not low <= value <= high:
        raise errors.invalid_form_body(
            name, "NUMBER_TYPE_MAX", f"int value should be between {low} and {high}."
        )
    return value


def _validate_command(definition: Any, path: str) -> None:
    """The checks Discord runs on a synced command that bite in practice."""
    if not isinstance(definition, dict) or not isinstance(definition.get("name"), str):
        raise errors.invalid_form_body(
            f"{path}.name", "BASE_TYPE_REQUIRED", "This field is required"
        )
    chat_input = int(definition.get("type", 1)) == 1
    _validate_named(definition, path, chat_input)
    _validate_options(definition.get("options") or [], f"{path}.options", chat_input)


def _validate_named(item: dict[str, Any], path: str, chat_input: bool) -> None:
    name = item["name"]
    if chat_input and (not COMMAND_NAME.match(name) or name != name.lower()):
        raise errors.invalid_form_body(
            f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
        )
    description = item.get("description", "")
    if chat_input and not 1 <= len(description) <= 100:
        raise errors.invalid_form_body(
            f"{path}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )


def _validate_options(options: list[dict[str, Any]], path: str, chat_input: bool) -> None:
    if len(options) > 25:
        raise errors.invalid_form_body(
            path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
        )
    seen_optional = False
    names: set[str] = set()
    for index, option in enumerate(options):
        where = f"{path}.{index}"
        _validate_named(option, where, chat_input)
        if option["name"] in names:
            raise errors.invalid_form_body(
                f"{where}.name", "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate name"
            )
        names.add(option["name"])
        if option.get("required"):
            if seen_optional:
                raise errors.invalid_form_body(
                    where,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        if len(option.get("choices") or []) > 25:
            raise errors.invalid_form_body(
                f"{where}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        _validate_options(option.get("options") or [], f"{where}.options", chat_input)
