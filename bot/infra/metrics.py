"""`Metrics` as Prometheus series, in a registry of this process's own.

Each bot process serves its own `/metrics`; a registry per `PrometheusMetrics`
(not prometheus_client's global one) keeps several bots, or a test that builds
many, from adding to each other's series. Series are named `lockdown_*`; their
labels come from small fixed sets (see `bot.domain.metrics`).
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

COMMAND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STATEMENT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class PrometheusMetrics:
    """Implements `bot.domain.metrics.Metrics`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._commands = Counter(
            "lockdown_commands",
            "Slash commands run, by command and outcome",
            ["command", "outcome"],
            registry=registry,
        )
        self._command_seconds = Histogram(
            "lockdown_command_duration_seconds",
            "Time from a slash command's arrival to its end, by command and outcome",
            ["command", "outcome"],
            buckets=COMMAND_BUCKETS,
            registry=registry,
        )
        self._actions = Counter(
            "lockdown_actions",
            "Moderation actions, by action and outcome",
            ["action", "outcome"],
            registry=registry,
        )
        self._action_seconds = Histogram(
            "lockdown_action_duration_seconds",
            "Time a moderation action took end to end, by action and outcome",
            ["action", "outcome"],
            buckets=COMMAND_BUCKETS,
            registry=registry,
        )
        self._cases = Counter(
            "lockdown_cases_recorded", "Cases recorded, by type", ["type"], registry=registry
        )
        self._escalations = Counter(
            "lockdown_escalations",
            "Escalation rungs applied, by the action they took",
            ["action"],
            registry=registry,
        )
        self._antinuke = Counter(
            "lockdown_antinuke_refusals",
            "Actions and commands refused by the anti-nuke limits, by limit",
            ["limit"],
            registry=registry,
        )
        self._discord = Counter(
            "lockdown_discord_requests",
            "Answers from Discord's REST API, by route template and status",
            ["route", "status"],
            registry=registry,
        )
        self._rate_limited = Counter(
            "lockdown_discord_rate_limited",
            "429 answers from Discord's REST API, by route template and scope",
            ["route", "scope"],
            registry=registry,
        )
        self._statement_seconds = Histogram(
            "lockdown_db_statement_duration_seconds",
            "Database statement latency, by path (sqlalchemy, or the raw-driver fast path) "
            "and statement kind",
            ["path", "statement"],
            buckets=STATEMENT_BUCKETS,
            registry=registry,
        )
        self._redis_outages = Counter(
            "lockdown_redis_outages",
            "Times a component found Redis away",
            ["component"],
            registry=registry,
        )
        self._redis_fallbacks = Counter(
            "lockdown_redis_fallbacks",
            "Calls served by the in-process fallback while Redis was away",
            ["component"],
            registry=registry,
        )
        self._redis_up = Gauge(
            "lockdown_redis_up",
            "1 if Redis answered the last check (absent without REDIS_URL)",
            registry=registry,
        )
        self._cache = Counter(
            "lockdown_cache_lookups",
            "Cache lookups, by cache and result (l1_hit, l2_hit, miss)",
            ["cache", "result"],
            registry=registry,
        )
        self._shard_connected = Gauge(
            "lockdown_gateway_connected",
            "1 while a shard's gateway session is connected and ready",
            ["shard"],
            registry=registry,
        )
        self._shard_latency = Gauge(
            "lockdown_gateway_latency_seconds",
            "A shard's last heartbeat round trip (NaN before the first)",
            ["shard"],
            registry=registry,
        )
        self._pool_size = Gauge(
            "lockdown_db_pool_size", "Connections a pool keeps", ["pool"], registry=registry
        )
        self._pool_checked_out = Gauge(
            "lockdown_db_pool_checked_out",
            "Connections in use from a pool",
            ["pool"],
            registry=registry,
        )
        self._pool_overflow = Gauge(
            "lockdown_db_pool_overflow",
            "Connections open beyond a pool's size (negative: room left before the size)",
            ["pool"],
            registry=registry,
        )
        self._timers_pending = Gauge(
            "lockdown_timers_pending",
            "Expiries and renewals of this process's guilds not yet due",
            registry=registry,
        )
        self._timers_overdue = Gauge(
            "lockdown_timers_overdue",
            "Expiries and renewals of this process's guilds due but not yet carried out",
            registry=registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)

    def command_finished(self, command: str, outcome: str, seconds: float) -> None:
        self._commands.labels(command, outcome).inc()
        self._command_seconds.labels(command, outcome).observe(seconds)

    def action_finished(self, action: str, outcome: str, seconds: float) -> None:
        self._actions.labels(action, outcome).inc()
        self._action_seconds.labels(action, outcome).observe(seconds)

    def case_recorded(self, case_type: str, count: int = 1) -> None:
        self._cases.labels(case_type).inc(count)

    def escalation_applied(self, action: str) -> None:
        self._escalations.labels(action).inc()

    def antinuke_refused(self, limit: str) -> None:
        self._antinuke.labels(limit).inc()

    def discord_response(self, route: str, status: str, rate_limit_scope: str | None) -> None:
        self._discord.labels(route, status).inc()
        if rate_limit_scope is not None:
            self._rate_limited.labels(route, rate_limit_scope).inc()

    def statement_finished(self, path: str, statement: str, seconds: float) -> None:
        self._statement_seconds.labels(path, statement).observe(seconds)

    def redis_outage(self, component: str) -> None:
        self._redis_outages.labels(component).inc()

    def redis_fallback(self, component: str) -> None:
        self._redis_fallbacks.labels(component).inc()

    def cache_lookup(self, cache: str, result: str) -> None:
        self._cache.labels(cache, result).inc()

    def shard_state(self, shard_id: int, *, connected: bool, latency: float | None) -> None:
        shard = str(shard_id)
        self._shard_connected.labels(shard).set(1 if connected else 0)
        known = latency is not None and math.isfinite(latency)
        self._shard_latency.labels(shard).set(latency if known else math.nan)  # type: ignore[arg-type]

    def pool_state(self, pool: str, *, size: int, checked_out: int, overflow: int) -> None:
        self._pool_size.labels(pool).set(size)
        self._pool_checked_out.labels(pool).set(checked_out)
        self._pool_overflow.labels(pool).set(overflow)

    def timers(self, *, pending: int, overdue: int) -> None:
        self._timers_pending.set(pending)
        self._timers_overdue.set(overdue)

    def redis_state(self, *, up: bool) -> None:
        self._redis_up.set(1 if up else 0)
