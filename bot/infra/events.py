"""The event bus: typed, versioned messages between the processes of one bot.

Each process runs a range of shards, so something that happens in one process
can concern another: a configuration write must reach every process's cache,
and a case with an expiry must wake the timer loop of the process that owns
the guild. Events travel as JSON with a schema version over one Redis pub/sub
channel; without Redis the same interface delivers them inside the process.

Handlers are plain functions and must be quick (drop a cache entry, set an
event): they run on the listener task. A handler also hears events this
process published (`local=True`), delivered directly, so local work never
depends on Redis being up. After a Redis outage the subscriber reconnects by
itself and calls the reconnect hooks, because messages sent meanwhile are lost:
a cache then drops what it holds, a timer loop looks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.models import Case
from bot.infra.clock import Monotonic
from bot.infra.redis_client import REDIS_DOWN, Outage

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CHANNEL = "lockdown:events"
RECONNECT_DELAY = 0.5  # seconds between attempts while Redis is away


@dataclass(frozen=True, slots=True)
class CacheInvalidated:
    """An entry changed at its source (a guild's configuration was written);
    every other process must drop its copy."""

    kind: ClassVar[str] = "cache.invalidated"
    cache: str
    key: int


@dataclass(frozen=True, slots=True)
class CaseCreated:
    """A case was recorded. With an expiry, the guild's owner must schedule its end."""

    kind: ClassVar[str] = "case.created"
    guild_id: int
    number: int
    type: str
    target_id: int
    expires_at: str | None  # ISO 8601, UTC

    @classmethod
    def of(cls, case: Case) -> CaseCreated:
        expires = case.expires_at.astimezone(UTC).isoformat() if case.expires_at else None
        return cls(case.guild_id, case.number, case.type.value, case.target_id, expires)

    def expiry(self) -> datetime | None:
        return datetime.fromisoformat(self.expires_at) if self.expires_at else None


Event = CacheInvalidated | CaseCreated
EVENT_TYPES: dict[str, type[Event]] = {t.kind: t for t in (CacheInvalidated, CaseCreated)}
Handler = Callable[[Event, bool], None]  # (event, local)


def encode(event: Event, origin: str) -> str:
    return json.dumps(
        {"v": SCHEMA_VERSION, "type": event.kind, "origin": origin, "data": asdict(event)},
        separators=(",", ":"),
    )


class UnreadableEvent(ValueError):
    """A message this version cannot read: a newer schema, an unknown type, or garbage."""


def decode(raw: str | bytes) -> tuple[Event, str]:
    """The event and the id of the process that sent it."""
    try:
        message = json.loads(raw)
        version, kind = message["v"], message["type"]
    except (ValueError, TypeError, KeyError) as error:
        raise UnreadableEvent(f"not an event: {error}") from None
    if version != SCHEMA_VERSION:
        raise UnreadableEvent(f"schema version {version}, this process reads {SCHEMA_VERSION}")
    if kind not in EVENT_TYPES:
        raise UnreadableEvent(f"unknown event type {kind!r}")
    try:
        return EVENT_TYPES[kind](**message["data"]), str(message["origin"])
    except (TypeError, KeyError) as error:
        raise UnreadableEvent(f"malformed {kind}: {error}") from None


class EventBus(Protocol):
    origin: str
    received: int  # events from other processes

    def subscribe(self, handler: Handler) -> None: ...

    def on_reconnect(self, hook: Callable[[], None]) -> None: ...

    async def publish(self, event: Event) -> bool:
        """Deliver to every process; False if only this one heard it (Redis away)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class _Subscriptions:
    """Who listens in this process, and delivering to them."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._reconnect_hooks: list[Callable[[], None]] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def on_reconnect(self, hook: Callable[[], None]) -> None:
        """Called after a lost connection is back: events sent meanwhile are gone."""
        self._reconnect_hooks.append(hook)

    def _deliver(self, event: Event, *, local: bool) -> None:
        for handler in self._handlers:
            try:
                handler(event, local)
            except Exception:
                log.exception("event handler %s failed on %s", handler, event)

    def _reconnected(self) -> None:
        for hook in self._reconnect_hooks:
            try:
                hook()
            except Exception:
                log.exception("reconnect hook %s failed", hook)


class MemoryEventBus(_Subscriptions):
    """One process: events go straight to its handlers, and nothing is ever missed."""

    def __init__(self) -> None:
        super().__init__()
        self.origin = secrets.token_hex(6)
        self.received = 0  # there are no other processes

    async def publish(self, event: Event) -> bool:
        self._deliver(event, local=True)
        return True

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisEventBus(_Subscriptions):
    """Every process: one channel, delivered to this process directly and to the
    others through Redis.

    `publish` never fails on a Redis outage (other processes then catch up via
    their reconnect hooks). The listener uses its own connection without a read
    timeout: a subscription is idle most of the time.
    """

    def __init__(
        self,
        redis: Redis,
        listener: Redis,
        *,
        channel: str = CHANNEL,
        liveness: float = 15.0,
        monotonic: Monotonic = time.monotonic,  # times the outages
        metrics: Metrics = NO_METRICS,
    ) -> None:
        super().__init__()
        self._liveness = liveness  # seconds of silence before checking the connection
        self.origin = secrets.token_hex(6)
        self._redis = redis
        self._listener_client = listener
        self._channel = channel
        self._publishing = Outage(
            "events", "reach this process only meanwhile", monotonic=monotonic, metrics=metrics
        )
        self._listening = Outage(
            "the event subscription", "reconnects in the background", monotonic=monotonic
        )
        self._task: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()  # subscribed, or found Redis away
        self.received = 0  # messages from other processes, for status and tests

    async def publish(self, event: Event) -> bool:
        """Deliver here, then to the others; False if Redis could not take it."""
        self._deliver(event, local=True)
        if self._publishing.resting():
            return False
        try:
            await self._redis.publish(self._channel, encode(event, self.origin))
        except REDIS_DOWN as error:
            self._publishing.failed(error)
            return False
        self._publishing.ok()
        return True

    async def start(self) -> None:
        """Subscribe before returning (unless Redis is away), then keep listening."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="event-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), 2.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._listener_client.aclose()

    async def _listen_forever(self) -> None:
        connected_before = False
        while True:
            try:
                async with self._listener_client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    await self._confirmed(pubsub)
                    self._settled.set()
                    if connected_before:
                        self._reconnected()
                    connected_before = True
                    self._listening.ok()
                    await self._receive(pubsub)
            except REDIS_DOWN as error:
                self._listening.failed(error)
                self._settled.set()
                await asyncio.sleep(RECONNECT_DELAY)

    async def _confirmed(self, pubsub: Any) -> None:
        """Wait for Redis to confirm the subscription (a hung server accepts the
        connection but never answers)."""
        while True:
            message = await pubsub.get_message(timeout=self._liveness)
            if message is None:
                raise redis_errors.TimeoutError("Redis did not confirm the subscription")
            if message["type"] == "subscribe":
                return

    async def _receive(self, pubsub: Any) -> None:
        """Deliver messages; after a quiet interval, PING, and give up on the
        connection if even that goes unanswered (a hung or unreachable Redis
        closes nothing, so silence is the only sign)."""
        awaiting_pong = False
        while True:
            message = await pubsub.get_message(timeout=self._liveness)
            if message is None:
                if awaiting_pong:
                    raise redis_errors.TimeoutError("Redis did not answer a PING")
                await pubsub.ping()
                awaiting_pong = True
                continue
            awaiting_pong = False
            if message["type"] != "message":
                continue  # a pong, or a subscription notice
            try:
                event, origin = decode(message["data"])
            except UnreadableEvent as why:
                log.warning("ignored an event on %s: %s", self._channel, why)
                continue
            if origin == self.origin:
                continue  # already delivered locally
            self.received += 1
            self._deliver(event, local=False)
