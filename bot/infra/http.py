"""The operations endpoints (`HTTP_PORT`): liveness, readiness and Prometheus metrics.

A small aiohttp server on the bot's own event loop, so `/healthz` answering
means the loop is turning. What readiness means and which numbers `/metrics`
shows are decided elsewhere (`bot.services.health`, `bot.infra.metrics`); the
server only calls them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.infra.metrics import PrometheusMetrics

log = logging.getLogger(__name__)

#: The longest `/metrics` waits for gauges read on demand (timers, Redis) to refresh.
REFRESH_TIMEOUT = 3.0

#: (HTTP status, JSON body) of the readiness checks.
ReadinessCheck = Callable[[], Awaitable[tuple[int, dict[str, object]]]]


class OperationsServer:
    def __init__(
        self,
        port: int,
        *,
        readiness: ReadinessCheck,
        metrics: PrometheusMetrics,
        refresh: Callable[[], Awaitable[None]],
        host: str = "0.0.0.0",
    ) -> None:
        self._port = port
        self._host = host
        self._readiness = readiness
        self._metrics = metrics
        self._refresh = refresh
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # once listening: the port (HTTP_PORT=0 picks one)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._serve_metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port, reuse_address=True).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("serving /healthz, /readyz and /metrics on port %s", self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, _: web.Request) -> web.Response:
        status, body = await self._readiness()
        return web.json_response(body, status=status)

    async def _serve_metrics(self, _: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(self._refresh(), REFRESH_TIMEOUT)
        except Exception as error:  # the counters are still worth serving
            log.warning("could not refresh every gauge for /metrics: %s", error)
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": self._metrics.content_type}
        )
