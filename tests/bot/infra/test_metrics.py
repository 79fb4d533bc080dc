"""Prometheus series: a registry per process, Redis outages counted once each."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.infra.metrics import PrometheusMetrics
from bot.infra.redis_client import Outage


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }


def test_two_processes_in_one_interpreter_count_apart() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.command_finished("ban", "ok", 0.2)
    first.command_finished("ban", "ok", 0.4)
    second.command_finished("ban", "refused", 0.1)
    key = ("lockdown_commands_total", (("command", "ban"), ("outcome", "ok")))
    assert samples(first)[key] == 2
    assert key not in samples(second)


def test_a_429_is_counted_as_a_request_and_apart() -> None:
    metrics = PrometheusMetrics()
    route = "PUT /guilds/{guild_id}/bans/{user_id}"
    metrics.discord_response(route, "429", "global")
    metrics.discord_response(route, "204", None)
    found = samples(metrics)
    assert found[("lockdown_discord_requests_total", (("route", route), ("status", "429")))] == 1
    assert found[("lockdown_discord_requests_total", (("route", route), ("status", "204")))] == 1
    assert (
        found[("lockdown_discord_rate_limited_total", (("route", route), ("scope", "global")))] == 1
    )


def test_an_outage_is_counted_once_and_each_fallback_every_time() -> None:
    now = [0.0]
    metrics = PrometheusMetrics()
    outage = Outage("rate limits", "meanwhile", monotonic=lambda: now[0], metrics=metrics)
    outage.failed(ConnectionError("down"))
    assert outage.resting()  # the caller uses its fallback
    now[0] += Outage.RETRY_AFTER
    assert not outage.resting()  # time to try Redis again...
    outage.failed(ConnectionError("still down"))  # ...and it failed: a fallback again
    found = samples(metrics)
    component = (("component", "rate_limits"),)
    assert found[("lockdown_redis_outages_total", component)] == 1
    assert found[("lockdown_redis_fallbacks_total", component)] == 3
