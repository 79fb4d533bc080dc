"""Talking to Redis without ever waiting long on it, and surviving its absence.

Every Redis-backed component (rate limits, cooldowns, the cache, the event
bus, identify turns) builds its client here and tracks outages with `Outage`,
so all of them time out the same way and log the same way: one warning when
Redis goes away, one line when it is back.
"""

from __future__ import annotations

import logging
import time

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.domain.metrics import NO_METRICS, Metrics
from bot.infra.clock import Monotonic

log = logging.getLogger(__name__)

#: Errors that mean "Redis is not there right now", as opposed to a bug.
REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


def redis_for_commands(url: str) -> Redis:
    """A client that gives up fast: a command must never wait long on Redis.

    No retries with back-off (redis-py's default can hold a call for seconds
    while Redis is down); short connect and read timeouts instead, after
    which the callers fall back to this process.
    """
    client: Redis = Redis.from_url(
        url,
        socket_timeout=0.25,
        socket_connect_timeout=0.25,
        retry=Retry(NoBackoff(), retries=0),
        health_check_interval=0,
    )
    return client


def redis_for_subscriptions(url: str) -> Redis:
    """A client for a pub/sub listener: connects fast, but waits on reads for as
    long as the channel is quiet. A Redis restart closes the socket, which the
    listener notices at once."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=None,
        socket_connect_timeout=0.25,
        retry=Retry(NoBackoff(), retries=0),
        health_check_interval=0,
    )
    return client


class Outage:
    """Tracks one component's view of Redis: one warning when it goes away, one
    line when it is back, and no attempt for a second after a failure, so a hung
    Redis costs a command at most one timeout a second, not one per call.

    It also counts, for `/metrics`, each outage and each call the component's
    fallback served (every `failed`, and every `resting` that answers True:
    the caller then uses its fallback).
    """

    RETRY_AFTER = 1.0

    def __init__(
        self,
        what: str,
        meanwhile: str,
        *,
        monotonic: Monotonic = time.monotonic,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._what = what
        self._meanwhile = meanwhile
        self._monotonic = monotonic
        self._metrics = metrics
        self.component = what.removeprefix("the ").replace(" ", "_")  # the metrics label
        self._retry_at = 0.0
        self.down = False

    def failed(self, error: Exception) -> None:
        self._retry_at = self._monotonic() + self.RETRY_AFTER
        self._metrics.redis_fallback(self.component)
        if not self.down:
            log.warning("Redis unreachable (%s): %s %s", error, self._what, self._meanwhile)
            self._metrics.redis_outage(self.component)
            self.down = True

    def ok(self) -> None:
        if self.down:
            log.info("Redis is back: %s shared again", self._what)
            self.down = False

    def resting(self) -> bool:
        """True while Redis failed less than a second ago: use the fallback directly."""
        if self.down and self._monotonic() < self._retry_at:
            self._metrics.redis_fallback(self.component)
            return True
        return False


class RedisUnavailable(Exception):
    """Redis did not answer; the message says why (never the URL's password)."""


async def ping(url: str, *, wait_seconds: float) -> None:
    """PING once on a fresh connection, waiting at most `wait_seconds` to connect and to
    hear back. Raises `RedisUnavailable` if Redis is not there or refuses us."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=wait_seconds,
        socket_connect_timeout=wait_seconds,
        retry=Retry(NoBackoff(), retries=0),
        health_check_interval=0,
    )
    try:
        await client.ping()
    except (redis_errors.RedisError, OSError) as error:
        raise RedisUnavailable(str(error) or type(error).__name__) from None
    finally:
        await client.aclose()
