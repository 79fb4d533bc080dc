"""`DiscordEmulator`: the HTTP+websocket server and the API end-to-end tests drive.

Point an unmodified discord.py at it before login::

    discord.http.Route.BASE = emu.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)

then build the world, start the bot, and act like Discord users would
(`send_slash_command`, `click_button`, `ui_ban`, `member_join`, ...), asserting
on recorded REST calls, world state and gateway traffic.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from . import payloads
from .gateway import GatewayHub, GatewaySession
from .interactions import InteractionHandle, InteractionRecord, Interactions
from .messaging import Messaging
from .moderation import Moderation
from .ratelimits import RateLimitHit, RateLimits
from .rest import FaultRule, LatencyRule, RequestRecord, RestApi
from .signals import PRIVILEGED_INTENTS, ChangeSignal, Intent
from .world import (
    ApplicationCommand,
    AuditLogEntry,
    ChannelRef,
    GuildRef,
    Member,
    Message,
    RoleRef,
    UserRef,
    World,
    id_of,
    utcnow,
)

T = TypeVar("T")

DEFAULT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.emulator.bot-token"
DEFAULT_MESSAGES = {
    400: (50035, "Invalid Form Body"),
    401: (0, "401: Unauthorized"),
    403: (50013, "Missing Permissions"),
    404: (0, "404: Not Found"),
    429: (0, "You are being rate limited."),
    500: (0, "500: Internal Server Error"),
    502: (0, "502: Bad Gateway"),
    503: (0, "503: Service Unavailable"),
}


class DiscordEmulator:
    """A Discord API (REST v10 + gateway) on 127.0.0.1 with an OS-chosen port."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_user_id: int | None = None,
        bot_username: str = "Lockdown",
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        heartbeat_interval_ms: int = 41_250,
        privileged_intents: int = PRIVILEGED_INTENTS,
        interaction_response_window: float = 3.0,
        rate_limits: bool = False,
    ) -> None:
        self.token = token
        # Discord's REST rate limits; off unless `rate_limits` or `.enable()`.
        self.rate_limits = RateLimits(enabled=rate_limits)
        self.signal = ChangeSignal()
        self.world = World(bot_user_id=bot_user_id, bot_username=bot_username)
        flags = payloads.application_flags(privileged_intents)
        self.gateway = GatewayHub(
            self.world,
            token,
            self.signal,
            heartbeat_interval_ms=heartbeat_interval_ms,
            privileged_intents=privileged_intents,
            application_flags=flags,
        )
        self.moderation = Moderation(self.world, self.gateway)
        self.messaging = Messaging(self.world, self.gateway)
        self.interactions = Interactions(
            self.world,
            self.gateway,
            self.messaging,
            self.signal,
            response_window=interaction_response_window,
        )
        self.rest = RestApi(
            self.world,
            token,
            signal=self.signal,
            gateway=self.gateway,
            moderation=self.moderation,
            messaging=self.messaging,
            interactions=self.interactions,
            recommended_shards=recommended_shards,
            application_flags=flags,
            max_concurrency=max_concurrency,
            rate_limits=self.rate_limits,
        )
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        app.router.add_get("/gateway", self.gateway.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self._port = sock.getsockname()[1]
        self.gateway.gateway_url = self.gateway_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self.gateway.close_all()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def wait_until(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str = "a condition",
    ) -> T:
        """Await the first truthy `predicate()`, re-checked whenever emulator state changes."""
        value: T = await self.signal.wait_until(predicate, timeout, what)
        return value

    # ------------------------------------------------------------------- REST

    @property
    def internal_errors(self) -> list[Exception]:
        """Emulator crashes while handling requests (answered 400); should stay empty."""
        return self.rest.internal_errors

    @property
    def requests(self) -> list[RequestRecord]:
        """Every REST request received, in arrival order."""
        return self.rest.requests

    @property
    def rate_limit_hits(self) -> list[RateLimitHit]:
        """Every 429 the rate limiter answered (not `fail_next` ones), in order; see
        `rate_limits` to enable limiting, override buckets and read per-bucket counters."""
        return list(self.rate_limits.hits)

    def calls(self, method: str, path_regex: str) -> list[RequestRecord]:
        """Requests whose method matches (or "*") and whose path (after /api/v10,
        without query) fully matches `path_regex`, e.g. `r"/guilds/\\d+/bans/\\d+"`."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.rest.requests
            if method in ("*", r.method) and pattern.fullmatch(r.path) is not None
        ]

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        code: int | None = None,
        message: str | None = None,
        *,
        times: int | None = 1,
        retry_after: float = 0.0,
    ) -> FaultRule:
        """Answer the next `times` matching requests (None: all of them) with an error.

        Beware: discord.py retries 500/502/504/524 up to 5 times sleeping 1, 3, 5, 7 s,
        and obeys 429 `retry_after` (the emulator adds the `Via` header it requires).
        """
        default_code, default_message = DEFAULT_MESSAGES.get(status, (0, f"{status}: Error"))
        rule = FaultRule(
            method,
            re.compile(path_regex),
            status,
            default_code if code is None else code,
            default_message if message is None else message,
            times,
            retry_after,
        )
        self.rest.faults.append(rule)
        return rule

    def add_latency(self, seconds: float, method: str = "*", path_regex: str = ".*") -> LatencyRule:
        """Delay matching REST responses (rules add up)."""
        rule = LatencyRule(method, re.compile(path_regex), seconds)
        self.rest.latencies.append(rule)
        return rule

    def clear_faults(self) -> None:
        self.rest.faults.clear()
        self.rest.latencies.clear()

    # ---------------------------------------------------------------- gateway

    @property
    def sessions(self) -> list[GatewaySession]:
        """Every gateway session ever identified (including ended ones)."""
        return list(self.gateway.sessions.values())

    def _live(self, shard_ids: Iterable[int] | None) -> list[GatewaySession]:
        wanted = None if shard_ids is None else set(shard_ids)
        return [s for s in self.gateway.live_sessions() if wanted is None or s.shard_id in wanted]

    async def wait_for_ready(
        self,
        shard_ids: Iterable[int] | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[GatewaySession]:
        """Wait until each shard (default: shard 0) has a connected session whose READY
        and GUILD_CREATEs were written. discord.py fires on_ready later still: it waits
        `guild_ready_timeout` (2 s by default) after the last GUILD_CREATE."""
        wanted = list(shard_ids) if shard_ids is not None else [0]

        def ready() -> list[GatewaySession] | None:
            found = []
            for shard_id in wanted:
                session = next((s for s in self._live([shard_id]) if s.ready and s.connected), None)
                if session is None:
                    return None
                found.append(session)
            return found

        sessions: list[GatewaySession] = await self.signal.wait_until(
            ready, timeout, f"ready gateway sessions for shards {wanted}"
        )
        return sessions

    async def drop_connections(
        self,
        shard_ids: Iterable[int] | None = None,
        *,
        code: int = 4000,
        invalidate: bool = False,
    ) -> None:
        """Close live websockets (all, or those of `shard_ids`) with `code`. Sessions stay
        resumable unless `invalidate`, in which case the client's RESUME gets op 9."""
        await self.gateway.drop(self._live(shard_ids), code, invalidate)

    async def gateway_outage(self, shard_ids: Iterable[int] | None = None) -> None:
        """The gateway goes away: live websockets (all, or those of `shard_ids`) close
        and every new one is refused (HTTP 503 at the upgrade, as a front end answers
        for a gateway that is down) until `gateway_restored`."""
        self.gateway.refusing = True
        await self.gateway.drop(self._live(shard_ids), 4000, False)

    def gateway_restored(self) -> None:
        self.gateway.refusing = False

    def request_reconnect(self, shard_ids: Iterable[int] | None = None) -> None:
        """Send op 7 RECONNECT, as Discord does before moving a session."""
        self.gateway.request_reconnect(self._live(shard_ids))

    def events(
        self, name: str | None = None, *, shard_id: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Dispatched (event, data) across live sessions, optionally one event name/shard."""
        shards = None if shard_id is None else [shard_id]
        return [event for s in self._live(shards) for event in s.events(name)]

    # ------------------------------------------------------------ interactions

    async def send_slash_command(
        self,
        guild: GuildRef,
        channel: ChannelRef,
        user: UserRef,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        locale: str = "en-US",
        check_permissions: bool = True,
    ) -> InteractionHandle:
        """Invoke a synced chat-input command as `user`, like Discord's client would.

        Options are given by name; USER/ROLE/CHANNEL options take objects or ids and
        are resolved into `data.resolved`. With `check_permissions` the command must
        be usable by the user (USE_APPLICATION_COMMANDS and the command's
        default_member_permissions); otherwise PermissionError, as Discord hides it.
        """
        record = self.interactions.slash_command(
            id_of(guild),
            id_of(channel),
            id_of(user),
            name,
            dict(options or {}),
            subcommand=subcommand,
            group=group,
            locale=locale,
            check_permissions=check_permissions,
        )
        return await self._handle(record)

    async def click_button(
        self, message: Message | InteractionHandle | int, custom_id: str, user: UserRef
    ) -> InteractionHandle:
        """Click a button on a bot message (or on any message of an interaction handle)."""
        target = self._message_with(message, custom_id)
        return await self._handle(self.interactions.component(target, custom_id, id_of(user), None))

    async def choose(
        self,
        message: Message | InteractionHandle | int,
        custom_id: str,
        user: UserRef,
        values: list[str],
    ) -> InteractionHandle:
        """Pick `values` in a select menu on a bot message."""
        target = self._message_with(message, custom_id)
        record = self.interactions.component(target, custom_id, id_of(user), values)
        return await self._handle(record)

    async def submit_modal(
        self, opened_by: InteractionHandle, values: dict[str, str | list[str]]
    ) -> InteractionHandle:
        """Submit the modal the bot opened in answer to `opened_by`; values by custom_id."""
        return await self._handle(self.interactions.modal_submit(opened_by.record, values))

    def synced_commands(self, guild: GuildRef | None = None) -> list[ApplicationCommand]:
        """Commands the bot synced globally (default) or to one guild."""
        scope = None if guild is None else id_of(guild)
        return [c for c in self.world.commands.values() if c.guild_id == scope]

    @property
    def interaction_records(self) -> list[InteractionRecord]:
        """All interactions, with dispatch/callback monotonic times for latency checks."""
        return list(self.interactions.records.values())

    def _message_with(self, ref: Message | InteractionHandle | int, custom_id: str) -> Message:
        if isinstance(ref, Message):
            return ref
        if isinstance(ref, int):
            return self.world.messages[ref]
        for candidate in reversed(ref.messages):
            if custom_id in candidate.custom_ids():
                return candidate
        raise ValueError(f"no message of interaction {ref.id} has a component {custom_id!r}")

    async def _handle(self, record: InteractionRecord) -> InteractionHandle:
        """Return once INTERACTION_CREATE hit a socket (if a connected session owns it)."""
        if any(s.connected and s.owns_guild(record.guild_id) for s in self._live(None)):
            await self.signal.wait_until(
                lambda: record.dispatched_at is not None, 5.0, "INTERACTION_CREATE to be written"
            )
        return InteractionHandle(record, self.world, self.signal)

    # ------------------------------------------------------ human UI actions

    async def ui_ban(
        self,
        guild: GuildRef,
        actor: UserRef,
        target: UserRef,
        reason: str | None = None,
        *,
        delete_message_seconds: int = 0,
    ) -> None:
        """A human bans through Discord's client: same rules, audit entry and events."""
        self.moderation.ban(
            id_of(guild), id_of(actor), id_of(target), reason, delete_message_seconds
        )

    async def ui_unban(
        self, guild: GuildRef, actor: UserRef, target: UserRef, reason: str | None = None
    ) -> None:
        self.moderation.unban(id_of(guild), id_of(actor), id_of(target), reason)

    async def ui_kick(
        self, guild: GuildRef, actor: UserRef, target: UserRef, reason: str | None = None
    ) -> None:
        self.moderation.kick(id_of(guild), id_of(actor), id_of(target), reason)

    async def ui_timeout(
        self,
        guild: GuildRef,
        actor: UserRef,
        target: UserRef,
        until: datetime | timedelta | None,
        reason: str | None = None,
    ) -> None:
        """Time a member out until a moment (or for a duration); None lifts it."""
        if isinstance(until, timedelta):
            until = utcnow() + until
        self.moderation.timeout(id_of(guild), id_of(actor), id_of(target), until, reason)

    async def ui_add_role(
        self,
        guild: GuildRef,
        actor: UserRef,
        target: UserRef,
        role: RoleRef,
        reason: str | None = None,
    ) -> None:
        self.moderation.change_roles(
            id_of(guild), id_of(actor), id_of(target), reason, add=(id_of(role),)
        )

    async def ui_remove_role(
        self,
        guild: GuildRef,
        actor: UserRef,
        target: UserRef,
        role: RoleRef,
        reason: str | None = None,
    ) -> None:
        self.moderation.change_roles(
            id_of(guild), id_of(actor), id_of(target), reason, remove=(id_of(role),)
        )

    async def bot_added(self, guild: GuildRef) -> None:
        """An admin adds the bot to a guild built after it connected: GUILD_CREATE to the
        owning shard (discord.py's on_guild_join)."""
        g = self.world.guild(guild)
        data = payloads.guild_create(self.world, g)
        self.gateway.dispatch_guild(g.id, "GUILD_CREATE", data, intent=Intent.GUILDS)

    async def member_join(self, guild: GuildRef, user: UserRef) -> Member:
        return self.moderation.member_join(id_of(guild), id_of(user))

    async def member_leave(self, guild: GuildRef, user: UserRef) -> None:
        self.moderation.member_leave(id_of(guild), id_of(user))

    async def user_says(self, channel: ChannelRef, user: UserRef, content: str) -> Message:
        """A human posts in a guild channel (MESSAGE_CREATE to the owning shard)."""
        target = self.world.channel(channel)
        return self.messaging.create(target, id_of(user), {"content": content}, [])

    # ----------------------------------------------------------------- queries

    def messages_in(self, channel: ChannelRef, *, include_ephemeral: bool = False) -> list[Message]:
        """Live messages in a channel, oldest first."""
        channel_id = id_of(channel)
        return [
            m
            for m in self.world.messages.values()
            if m.channel_id == channel_id
            and not m.deleted
            and (include_ephemeral or not m.ephemeral)
        ]

    def dms_to(self, user: UserRef) -> list[Message]:
        """What the bot successfully DMed a user, oldest first."""
        user_id = id_of(user)
        return [
            m
            for m in self.world.messages.values()
            if m.guild_id is None
            and not m.deleted
            and self.world.channel(m.channel_id).recipient_id == user_id
        ]

    def bans(self, guild: GuildRef) -> dict[int, str | None]:
        return dict(self.world.guild(guild).bans)

    def timeout_until(self, guild: GuildRef, user: UserRef) -> datetime | None:
        """The member's active timeout end, or None (not timed out / not a member)."""
        member = self.world.guild(guild).members.get(id_of(user))
        if member is None or not member.is_timed_out():
            return None
        return member.communication_disabled_until

    def audit_log(self, guild: GuildRef, action_type: int | None = None) -> list[AuditLogEntry]:
        """Audit entries oldest first, optionally of one action type."""
        entries = self.world.guild(guild).audit_log
        return [e for e in entries if action_type is None or e.action_type == action_type]
