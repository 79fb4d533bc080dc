"""The operations endpoints of a bot process, wired to the bot (`HTTP_PORT`).

The server starts before the bot logs in, so `/healthz` answers from the
start and `/readyz` says what is not up yet; it stops when the bot does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.infra.http import OperationsServer
from bot.logs import Redactor, secrets_of
from bot.services.health import HealthService
from bot.settings import SettingsError

if TYPE_CHECKING:
    from bot.discord_side.client import LockdownBot


@asynccontextmanager
async def serve_operations(bot: LockdownBot) -> AsyncIterator[None]:
    """Serve `/healthz`, `/readyz` and `/metrics` while in the block; nothing without
    HTTP_PORT."""
    port = bot.settings.http_port
    if port is None or bot.prometheus is None:
        yield
        return
    health = HealthService(
        bot.database, bot.shared, bot.shard_states, redact=Redactor(secrets_of(bot.settings))
    )

    async def readiness() -> tuple[int, dict[str, object]]:
        result = await health.check()
        return (200 if result.ready else 503), result.body()

    async def refresh() -> None:
        """The gauges that are read, not counted: shards, pools, timers, Redis."""
        metrics = bot.metrics
        for shard_id, connected in bot.shard_states().items():
            shard = bot.shards.get(shard_id)
            metrics.shard_state(
                shard_id, connected=connected, latency=shard.latency if shard else None
            )
        for pool in bot.database.pool_states():
            metrics.pool_state(
                pool.name, size=pool.size, checked_out=pool.checked_out, overflow=pool.overflow
            )
        redis_up = await health.redis_up()
        if redis_up is not None:
            metrics.redis_state(up=redis_up)
        pending, overdue = await bot.services.timers.counts()
        metrics.timers(pending=pending, overdue=overdue)

    server = OperationsServer(port, readiness=readiness, metrics=bot.prometheus, refresh=refresh)
    try:
        await server.start()
    except OSError as error:
        await health.close()
        raise SettingsError(
            f"HTTP_PORT is invalid: cannot listen on port {port} ({error.strerror or error})"
        ) from None
    bot.http_port = server.port
    try:
        yield
    finally:
        await server.stop()
        await health.close()
