"""The event bus: versioned JSON, delivered here at once and to other processes
through Redis, and a subscriber that comes back by itself after Redis restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import Case
from bot.infra.clock import Monotonic
from bot.infra.events import (
    SCHEMA_VERSION,
    CacheInvalidated,
    CaseCreated,
    Event,
    MemoryEventBus,
    RedisEventBus,
    UnreadableEvent,
    decode,
    encode,
)
from bot.infra.redis_client import Outage, redis_for_commands, redis_for_subscriptions
from tests.conftest import REDIS_URL
from tests.fake_clock import FakeMonotonic
from tests.redis_server import PrivateRedis, ready


def a_case(expires_at: datetime | None) -> Case:
    return Case(
        guild_id=7, number=3, type=Action.BAN, target_id=9, moderator_id=1,
        created_at=datetime(2026, 12, 1, tzinfo=UTC), reason=None, expires_at=expires_at,
        state=CaseState.ACTIVE, dm_delivered=None, audit_log_entry_id=None, related_number=None,
        revoked_at=None, revoked_by=None, revoke_reason=None, renew_at=None,
        dm_channel_id=None, dm_message_id=None,
    )  # fmt: skip


class Heard:
    """Records what a handler was given."""

    def __init__(self) -> None:
        self.events: list[tuple[Event, bool]] = []
        self.changed = asyncio.Event()
        self.reconnects = 0

    def __call__(self, event: Event, local: bool) -> None:
        self.events.append((event, local))
        self.changed.set()

    def reconnected(self) -> None:
        self.reconnects += 1
        self.changed.set()

    async def until(self, count: int, *, reconnects: int = 0) -> None:
        async def enough() -> None:
            while len(self.events) < count or self.reconnects < reconnects:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(enough(), 5)


def test_events_are_versioned_json_and_read_back() -> None:
    expires = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
    event = CaseCreated.of(a_case(expires))
    raw = encode(event, "proc-a")
    message = json.loads(raw)
    assert (message["v"], message["type"], message["origin"]) == (
        SCHEMA_VERSION, "case.created", "proc-a",
    )  # fmt: skip
    assert message["data"]["expires_at"] == "2026-12-02T10:30:00+00:00"
    assert decode(raw) == (event, "proc-a")
    assert decode(raw)[0].expiry() == expires  # type: ignore[union-attr]
    assert decode(encode(CacheInvalidated("config", 5), "b")) == (
        CacheInvalidated("config", 5),
        "b",
    )


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ('{"v": 2, "type": "case.created", "origin": "x", "data": {}}', "schema version 2"),
        ('{"v": 1, "type": "guild.exploded", "origin": "x", "data": {}}', "unknown event type"),
        ('{"v": 1, "type": "cache.invalidated", "origin": "x", "data": {"key": 1}}', "malformed"),
        ("not json", "not an event"),
    ],
)
def test_a_message_this_version_cannot_read_is_refused_by_name(raw: str, why: str) -> None:
    with pytest.raises(UnreadableEvent, match=why):
        decode(raw)


async def test_in_one_process_events_reach_its_handlers_at_once() -> None:
    bus, heard = MemoryEventBus(), Heard()
    bus.subscribe(heard)
    await bus.publish(CacheInvalidated("config", 1))
    assert heard.events == [(CacheInvalidated("config", 1), True)]


async def buses(
    url: str, channel: str, count: int, *, monotonic: Monotonic = time.monotonic
) -> list[RedisEventBus]:
    started = []
    for _ in range(count):
        bus = RedisEventBus(
            redis_for_commands(url), redis_for_subscriptions(url), channel=channel,
            monotonic=monotonic,
        )  # fmt: skip
        await bus.start()
        started.append(bus)
    return started


async def close(*started: RedisEventBus) -> None:
    for bus in started:
        await bus.close()
        await bus._redis.aclose()


async def test_every_process_hears_an_event_once(redis_client: Redis) -> None:
    channel = f"lockdown:test:{secrets.token_hex(4)}"
    first, second = await buses(REDIS_URL, channel, 2)
    heard_first, heard_second = Heard(), Heard()
    first.subscribe(heard_first)
    second.subscribe(heard_second)
    try:
        event = CaseCreated.of(a_case(None))
        await first.publish(event)
        await heard_second.until(1)
        await asyncio.sleep(0.1)  # the publisher's own copy must not come back through Redis
        assert heard_first.events == [(event, True)]
        assert heard_second.events == [(event, False)]
        assert (first.received, second.received) == (0, 1)
    finally:
        await close(first, second)


async def test_unreadable_messages_are_logged_and_skipped(
    redis_client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    channel = f"lockdown:test:{secrets.token_hex(4)}"
    (bus,) = await buses(REDIS_URL, channel, 1)
    heard = Heard()
    bus.subscribe(heard)
    try:
        await redis_client.publish(channel, '{"v": 99, "type": "x", "origin": "y", "data": {}}')
        await redis_client.publish(channel, encode(CacheInvalidated("config", 2), "other"))
        await heard.until(1)
        assert heard.events == [(CacheInvalidated("config", 2), False)]
        assert any("schema version 99" in r.message for r in caplog.records)
    finally:
        await close(bus)


async def test_after_a_redis_restart_subscribers_reconnect_and_refresh(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.infra.redis_client")
    channel = "lockdown:events"
    clock = FakeMonotonic()
    first, second = await buses(private_redis.url, channel, 2, monotonic=clock)
    heard = Heard()
    second.subscribe(heard)
    second.on_reconnect(heard.reconnected)
    try:
        private_redis.stop()
        await first.publish(CacheInvalidated("config", 1))  # lost, and says so once
        await first.publish(CacheInvalidated("config", 2))
        warnings = [r.message for r in caplog.records if "Redis unreachable" in r.message]
        assert sum("events reach this process only" in w for w in warnings) == 1
        assert heard.events == []

        private_redis.start()
        await ready(first._redis)
        await heard.until(0, reconnects=1)  # the subscriber is back and told to refresh
        clock.advance(Outage.RETRY_AFTER)  # the publisher rests a moment after a failure
        await first.publish(CacheInvalidated("config", 3))
        await heard.until(1)
        assert heard.events == [(CacheInvalidated("config", 3), False)]
        assert heard.reconnects == 1
    finally:
        await close(first, second)


async def test_a_hung_redis_is_noticed_by_its_silence_and_the_subscriber_comes_back(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGSTOP closes nothing: only an unanswered PING shows the subscription is dead."""
    caplog.set_level(logging.INFO, logger="bot.infra.redis_client")
    url = private_redis.url
    bus = RedisEventBus(
        redis_for_commands(url), redis_for_subscriptions(url), channel="lockdown:events",
        liveness=0.2,
    )  # fmt: skip
    heard = Heard()
    bus.on_reconnect(heard.reconnected)
    bus.subscribe(heard)
    await bus.start()
    try:
        private_redis.pause()
        try:
            async with asyncio.timeout(5):
                while not any("event subscription" in r.message for r in caplog.records):  # noqa: ASYNC110 - a log record, not an Event
                    await asyncio.sleep(0.05)
        finally:
            private_redis.resume()
        await heard.until(0, reconnects=1)
        publisher = redis_for_commands(url)
        await publisher.publish("lockdown:events", encode(CacheInvalidated("config", 9), "other"))
        await publisher.aclose()
        await heard.until(1)
        assert heard.events == [(CacheInvalidated("config", 9), False)]
        warnings = [r.message for r in caplog.records if "Redis unreachable" in r.message]
        assert len(warnings) == 1, warnings  # once for the outage, however many retries
    finally:
        await close(bus)
