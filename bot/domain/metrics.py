"""What the bot counts for its operators, as one small interface.

Services, the shared-state components, the database layer and the Discord
side report through `Metrics`; `bot.infra.metrics.PrometheusMetrics` turns
the reports into Prometheus series for `/metrics`, and `NO_METRICS` drops
them (a process without `HTTP_PORT`, the command line, most tests). Every
argument is one of a small fixed set of values (a command's name, an action,
a route template, a component), never an id: each becomes a label.
"""

from __future__ import annotations

from typing import Protocol


class Metrics(Protocol):
    def command_finished(self, command: str, outcome: str, seconds: float) -> None:
        """A slash command ended: `outcome` is ok, refused, throttled, denied,
        bad_input, error or interrupted."""
        ...

    def action_finished(self, action: str, outcome: str, seconds: float) -> None:
        """A moderation action ended (`outcome`: done, refused, failed, pending)."""
        ...

    def case_recorded(self, case_type: str, count: int = 1) -> None: ...

    def escalation_applied(self, action: str) -> None: ...

    def antinuke_refused(self, limit: str) -> None:
        """`limit` is "actions" (bans and kicks per moderator) or "command_pace"."""
        ...

    def discord_response(self, route: str, status: str, rate_limit_scope: str | None) -> None:
        """One HTTP answer from Discord's REST API; `rate_limit_scope` is set on a 429
        (user, shared or global)."""
        ...

    def statement_finished(self, path: str, statement: str, seconds: float) -> None:
        """A database statement ran: `path` is sqlalchemy or driver (the raw-driver
        fast path), `statement` its first keyword (select, insert, ...)."""
        ...

    def redis_outage(self, component: str) -> None:
        """A component found Redis away (once per outage)."""
        ...

    def redis_fallback(self, component: str) -> None:
        """A call served by the in-process twin because Redis is away."""
        ...

    def cache_lookup(self, cache: str, result: str) -> None:
        """`result` is l1_hit, l2_hit or miss."""
        ...

    def shard_state(self, shard_id: int, *, connected: bool, latency: float | None) -> None: ...

    def pool_state(self, pool: str, *, size: int, checked_out: int, overflow: int) -> None: ...

    def timers(self, *, pending: int, overdue: int) -> None:
        """Expiries and renewals of this process's guilds: not yet due, and due but
        not yet carried out."""
        ...

    def redis_state(self, *, up: bool) -> None: ...


class NoMetrics:
    """Counts nothing: for processes that serve no `/metrics`."""

    def command_finished(self, command: str, outcome: str, seconds: float) -> None:
        pass

    def action_finished(self, action: str, outcome: str, seconds: float) -> None:
        pass

    def case_recorded(self, case_type: str, count: int = 1) -> None:
        pass

    def escalation_applied(self, action: str) -> None:
        pass

    def antinuke_refused(self, limit: str) -> None:
        pass

    def discord_response(self, route: str, status: str, rate_limit_scope: str | None) -> None:
        pass

    def statement_finished(self, path: str, statement: str, seconds: float) -> None:
        pass

    def redis_outage(self, component: str) -> None:
        pass

    def redis_fallback(self, component: str) -> None:
        pass

    def cache_lookup(self, cache: str, result: str) -> None:
        pass

    def shard_state(self, shard_id: int, *, connected: bool, latency: float | None) -> None:
        pass

    def pool_state(self, pool: str, *, size: int, checked_out: int, overflow: int) -> None:
        pass

    def timers(self, *, pending: int, overdue: int) -> None:
        pass

    def redis_state(self, *, up: bool) -> None:
        pass


NO_METRICS: Metrics = NoMetrics()
