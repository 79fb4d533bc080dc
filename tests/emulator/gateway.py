"""The gateway websocket: HELLO/IDENTIFY/READY/RESUME, heartbeats, sharded dispatch.

One `GatewaySession` is what Discord calls a session: it has a session id, a
sequence counter and a replay buffer, and survives its websocket dropping so
the client can RESUME. A `Connection` is one websocket; it owns the transport
compressor and a writer task so events queued from synchronous world code go
out in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from . import payloads
from .signals import PRIVILEGED_INTENTS, ChangeSignal, Intent, SentCallback
from .world import World

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_ERROR = 4000
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SHARD = 4010
CLOSE_DISALLOWED_INTENTS = 4014

REPLAY_BUFFER = 5000
MEMBERS_PER_CHUNK = 1000
CONTENT_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE"}


def _zlib_stream() -> Callable[[str], bytes]:
    """Discord's zlib-stream transport: one deflate context for the whole
    connection, every message flushed with Z_SYNC_FLUSH (ends in 00 00 ff ff)."""
    compressor = zlib.compressobj()

    def encode(text: str) -> bytes:
        return compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)

    return encode


def _zstd_stream() -> Callable[[str], bytes] | None:
    """zstd-stream, when a zstd binding is importable (discord.py prefers it then)."""
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return None
    compressor = zstandard.ZstdCompressor().compressobj()

    def encode(text: str) -> bytes:
        frame: bytes = compressor.compress(text.encode()) + compressor.flush(
            zstandard.COMPRESSOBJ_FLUSH_BLOCK
        )
        return frame

    return encode


@dataclass
class ReceivedFrame:
    """A payload a client sent us, for tests that assert on client behaviour."""

    session_id: str | None
    op: int
    data: Any
    received_at: float


class Connection:
    """One websocket plus its ordered writer."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.session: GatewaySession | None = None
        self.compress = compress
        encoder = None
        if compress == "zlib-stream":
            encoder = _zlib_stream()
        elif compress == "zstd-stream":
            # Without a zstd binding we answer in plain text frames, which
            # discord.py accepts whatever compression it asked for.
            encoder = _zstd_stream()
        self._encode = encoder
        self._queue: asyncio.Queue[tuple[dict[str, Any], SentCallback | None] | None] = (
            asyncio.Queue()
        )
        self._writer = asyncio.create_task(self._write_loop())

    def send(self, payload: dict[str, Any], on_sent: SentCallback | None = None) -> None:
        self._queue.put_nowait((payload, on_sent))

    async def _write_loop(self) -> None:
        while (item := await self._queue.get()) is not None:
            payload, on_sent = item
            text = json.dumps(payload, separators=(",", ":"))
            try:
                if self._encode is None:
                    await self.ws.send_str(text)
                else:
                    await self.ws.send_bytes(self._encode(text))
            except (ConnectionError, RuntimeError):
                return
            if on_sent is not None:
                on_sent(time.monotonic())

    async def close(self, code: int, message: str = "") -> None:
        """Flush what is queued, then close with `code`."""
        await self.stop_writer()
        await self.ws.close(code=code, message=message.encode())

    async def stop_writer(self) -> None:
        if not self._writer.done():
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


@dataclass
class GatewaySession:
    """A resumable gateway session for one shard."""

    session_id: str
    shard_id: int
    shard_count: int
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    connection: Connection | None = None
    ready: bool = False
    invalidated: bool = False
    resumes: int = 0
    # When the IDENTIFY that started this session arrived (time.monotonic()).
    identified_at: float = field(default_factory=time.monotonic)
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))

    @property
    def connected(self) -> bool:
        return self.connection is not None

    def owns_guild(self, guild_id: int) -> bool:
        return (guild_id >> 22) % self.shard_count == self.shard_id

    def wants(self, intent: Intent | None) -> bool:
        return intent is None or bool(self.intents & intent)

    def dispatch(
        self, event: str, data: dict[str, Any], on_sent: SentCallback | None = None
    ) -> None:
        self.seq += 1
        payload = {"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data}
        self.history.append(payload)
        if self.connection is not None:
            self.connection.send(payload, on_sent)

    def events(self, name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(event name, data) of what was dispatched, oldest first (bounded buffer)."""
        return [(p["t"], p["d"]) for p in self.history if name is None or p["t"] == name]


class GatewayHub:
    """Accepts gateway websockets and routes events to the sessions owning each guild."""

    def __init__(
        self,
        world: World,
        token: str,
        signal: ChangeSignal,
        *,
        heartbeat_interval_ms: int,
        privileged_intents: int,
        application_flags: int,
    ) -> None:
        self.world = world
        self.token = token
        self.signal = signal
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents = privileged_intents
        self.application_flags = application_flags
        self.gateway_url = ""
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[Connection] = set()
        self.received: list[ReceivedFrame] = []
        # While set, the gateway is away: the websocket upgrade is answered 503.
        self.refusing = False

    # ---------------------------------------------------------------- routing

    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if not s.invalidated]

    def dispatch_guild(
        self,
        guild_id: int,
        event: str,
        data: dict[str, Any],
        *,
        intent: Intent | None,
        on_sent: SentCallback | None = None,
    ) -> int:
        targets = [s for s in self.live_sessions() if s.owns_guild(guild_id) and s.wants(intent)]
        return self._deliver(targets, event, data, on_sent)

    def dispatch_direct(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: Intent | None,
        on_sent: SentCallback | None = None,
    ) -> int:
        targets = [s for s in self.live_sessions() if s.shard_id == 0 and s.wants(intent)]
        return self._deliver(targets, event, data, on_sent)

    def _deliver(
        self,
        targets: Iterable[GatewaySession],
        event: str,
        data: dict[str, Any],
        on_sent: SentCallback | None,
    ) -> int:
        count = 0
        for session in targets:
            session.dispatch(event, self._visible_to(session, event, data), on_sent)
            count += 1
        self.signal.pulse()
        return count

    def _visible_to(self, session: GatewaySession, event: str, data: dict[str, Any]) -> Any:
        """Without MESSAGE_CONTENT Discord blanks content of other people's guild
        messages unless they mention the bot."""
        if event not in CONTENT_EVENTS or session.intents & Intent.MESSAGE_CONTENT:
            return data
        bot_id = str(self.world.bot.id)
        if "guild_id" not in data or data.get("author", {}).get("id") == bot_id:
            return data
        if any(u["id"] == bot_id for u in data.get("mentions", [])):
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    # ------------------------------------------------------------- websocket

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refusing:
            return web.Response(status=503, text="upstream connect error")
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        connection = Connection(ws, request.query.get("compress"))
        self.connections.add(connection)
        try:
            if request.query.get("encoding", "json") != "json":
                await connection.close(CLOSE_DECODE_ERROR, "Only JSON encoding is emulated.")
                return ws
            connection.send(
                {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
            )
            await self._read_loop(connection)
        finally:
            await connection.stop_writer()
            self.connections.discard(connection)
            self._detach(connection)
        return ws

    async def _read_loop(self, connection: Connection) -> None:
        async for message in connection.ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            try:
                frame = json.loads(message.data)
                op = frame["op"]
            except (ValueError, KeyError, TypeError):
                await connection.close(CLOSE_DECODE_ERROR, "Decode error.")
                return
            session_id = connection.session.session_id if connection.session else None
            self.received.append(ReceivedFrame(session_id, op, frame.get("d"), time.monotonic()))
            await self._on_frame(connection, op, frame.get("d"))
            self.signal.pulse()

    async def _on_frame(self, connection: Connection, op: int, data: Any) -> None:
        if op == OP_HEARTBEAT:
            connection.send({"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            await self._identify(connection, data)
        elif op == OP_RESUME:
            await self._resume(connection, data)
        elif connection.session is None:
            await connection.close(CLOSE_NOT_AUTHENTICATED, "Not authenticated.")
        elif op == OP_REQUEST_GUILD_MEMBERS:
            self._request_members(connection.session, data)
        elif op not in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE):
            await connection.close(CLOSE_UNKNOWN_OPCODE, "Unknown opcode.")

    def _token_ok(self, token: Any) -> bool:
        return token in (self.token, f"Bot {self.token}")

    async def _identify(self, connection: Connection, data: dict[str, Any]) -> None:
        if connection.session is not None:
            await connection.close(CLOSE_ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if not self._token_ok(data.get("token")):
            await connection.close(CLOSE_AUTHENTICATION_FAILED, "Authentication failed.")
            return
        shard_id, shard_count = data.get("shard") or (0, 1)
        if shard_count < 1 or not 0 <= shard_id < shard_count:
            await connection.close(CLOSE_INVALID_SHARD, "Invalid shard.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await connection.close(CLOSE_DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        for stale in self.live_sessions():
            # A process re-identifying a shard replaced whoever held it and vanished
            # without resuming (discord.py's close() leaves sessions resumable);
            # retiring those keeps restarted bots from being counted twice.
            if (stale.shard_id, stale.shard_count) == (
                shard_id,
                shard_count,
            ) and not stale.connected:
                stale.invalidated = True
        session = GatewaySession(secrets.token_hex(16), shard_id, shard_count, intents, data)
        self.sessions[session.session_id] = session
        self._attach(session, connection)
        guilds = [
            g
            for g in self.world.guilds.values()
            if session.owns_guild(g.id) and self.world.bot.id in g.members
        ]
        ready = {
            "v": 10,
            "user": payloads.current_user(self.world.bot),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": [shard_id, shard_count],
            "application": {
                "id": str(self.world.application_id),
                "flags": self.application_flags,
            },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "user_settings": {},
            "auth": {},
            "_trace": ['["discord-emulator"]'],
        }

        def mark_ready(_: float) -> None:
            session.ready = True
            self.signal.pulse()

        session.dispatch("READY", ready, None if guilds else mark_ready)
        for index, g in enumerate(guilds):
            last = index == len(guilds) - 1
            session.dispatch(
                "GUILD_CREATE", payloads.guild_create(self.world, g), mark_ready if last else None
            )

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq") or 0
        oldest = session.history[0]["s"] if session and session.history else 1
        if (
            session is None
            or session.invalidated
            or not self._token_ok(data.get("token"))
            or seq < oldest - 1
        ):
            # d=false: not resumable, the client must IDENTIFY afresh.
            connection.send({"op": OP_INVALID_SESSION, "d": False})
            return
        if session.connection is not None and session.connection is not connection:
            stale = session.connection
            self._detach(stale)
            await stale.close(CLOSE_UNKNOWN_ERROR, "Session resumed elsewhere.")
        self._attach(session, connection)
        session.resumes += 1
        for payload in list(session.history):
            if payload["s"] > seq:
                connection.send(payload)
        session.dispatch("RESUMED", {})

    def _attach(self, session: GatewaySession, connection: Connection) -> None:
        session.connection = connection
        connection.session = session

    def _detach(self, connection: Connection) -> None:
        session = connection.session
        if session is None or session.connection is not connection:
            return
        session.connection = None
        # A client closing with 1000/1001 ends its session; any other close (or a
        # dropped transport) leaves it resumable, as on Discord. Note discord.py's
        # own close() races its reader and usually sends 4000, so it stays resumable.
        if connection.ws.close_code in (WSCloseCode.OK, WSCloseCode.GOING_AWAY):
            session.invalidated = True
        self.signal.pulse()

    def _request_members(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild_id = int(data["guild_id"])
        guild = self.world.guilds.get(guild_id)
        if guild is None or not session.owns_guild(guild_id):
            return
        user_ids = [int(u) for u in data.get("user_ids") or []]
        query = str(data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        if user_ids:
            found = [guild.members[u] for u in user_ids if u in guild.members]
        else:
            found = [
                m
                for m in guild.members.values()
                if self.world.user(m.user_id).username.lower().startswith(query)
                or (m.nick or "").lower().startswith(query)
            ]
            if limit:
                found = found[:limit]
        chunks = [
            found[i : i + MEMBERS_PER_CHUNK] for i in range(0, len(found), MEMBERS_PER_CHUNK)
        ] or [[]]
        for index, chunk in enumerate(chunks):
            payload: dict[str, Any] = {
                "guild_id": str(guild_id),
                "members": [payloads.member(self.world, m) for m in chunk],
                "chunk_index": index,
                "chunk_count": len(chunks),
            }
            if index == 0 and user_ids:
                payload["not_found"] = [str(u) for u in user_ids if u not in guild.members]
            if data.get("nonce"):
                payload["nonce"] = data["nonce"]
            session.dispatch("GUILD_MEMBERS_CHUNK", payload)

    # ------------------------------------------------------------ test hooks

    async def drop(self, sessions: Iterable[GatewaySession], code: int, invalidate: bool) -> None:
        for session in list(sessions):
            if invalidate:
                session.invalidated = True
            connection = session.connection
            if connection is not None:
                self._detach(connection)
                await connection.close(code, "Dropped by the emulator.")

    def request_reconnect(self, sessions: Iterable[GatewaySession]) -> None:
        for session in sessions:
            if session.connection is not None:
                session.connection.send({"op": OP_RECONNECT, "d": None})

    async def close_all(self) -> None:
        for connection in list(self.connections):
            self._detach(connection)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.close(WSCloseCode.GOING_AWAY, "Emulator shutting down.")
