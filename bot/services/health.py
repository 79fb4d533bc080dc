"""Whether this process can do its work now (`/readyz`), and what is down if not.

Ready means every shard this process owns is connected, and the database
answers with the newest schema. Redis is not needed: without it the process
falls back to per-process limits and database reads (README, "Several
processes"), so Redis away makes the process degraded, not unready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from bot.infra.shared import Shared
from db import migrate
from db.engine import Database, create_engine

#: The longest one check may take: an unanswered check counts as down.
CHECK_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Readiness:
    down: tuple[str, ...]  # what keeps the process from being ready ("database", "shard 0")
    degraded: tuple[str, ...]  # what is away while work goes on ("redis")
    checks: dict[str, str] = field(default_factory=dict)  # each check: "ok" or why not

    @property
    def ready(self) -> bool:
        return not self.down

    def body(self) -> dict[str, object]:
        status = "unready" if self.down else "degraded" if self.degraded else "ready"
        return {
            "status": status,
            "down": list(self.down),
            "degraded": list(self.degraded),
            "checks": self.checks,
        }


class HealthService:
    """Runs the readiness checks; `shards` says which owned shards are connected."""

    def __init__(
        self,
        database: Database,
        shared: Shared,
        shards: Callable[[], Mapping[int, bool]],
        *,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._database = database
        self._shared = shared
        self._shards = shards
        self._redact = redact  # error texts go into the HTTP body: no secrets
        self._url = database.engine.url.render_as_string(hide_password=False)
        self._head: str | None = None
        # A pooled SQLite connection keeps working on the file it opened, whatever
        # happens to the path; a fresh one finds out what the next connection would.
        self._sqlite_probe: AsyncEngine | None = (
            create_engine(self._url, poolclass=NullPool) if database.is_sqlite else None
        )

    async def check(self) -> Readiness:
        database, redis = await asyncio.gather(self._check_database(), self._check_redis())
        checks = {"database": database}
        down = [] if database == "ok" else ["database"]
        shards = self._shards()
        if not shards:
            checks["gateway"] = "not started"
            down.append("gateway")
        for shard_id, connected in sorted(shards.items()):
            name = f"shard {shard_id}"
            checks[name] = "connected" if connected else "disconnected"
            if not connected:
                down.append(name)
        checks["redis"] = redis
        degraded = [] if redis in ("ok", "off") else ["redis"]
        return Readiness(tuple(down), tuple(degraded), checks)

    async def redis_up(self) -> bool | None:
        """Whether Redis answers a PING now; None without REDIS_URL."""
        if self._shared.redis is None:
            return None
        return await self._check_redis() == "ok"

    async def close(self) -> None:
        if self._sqlite_probe is not None:
            await self._sqlite_probe.dispose()

    async def _check_database(self) -> str:
        """Through each of the bot's pools (a failure there also retires the pool's
        connections from before an outage), or SQLite's fresh connection."""
        engines = (
            [self._sqlite_probe]
            if self._sqlite_probe is not None
            else [self._database.engine, self._database.autocommit_engine]
        )
        try:
            if self._head is None:
                self._head = await asyncio.to_thread(migrate.head_revision, self._url)
            for engine in engines:
                current = await asyncio.wait_for(migrate.revisions_on(engine), CHECK_TIMEOUT)
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT:g}s"
        except Exception as error:
            return self._why(error)
        if current != (self._head,):
            found = ", ".join(current) or "none"
            return f"schema at {found}, this Lockdown needs {self._head}"
        return "ok"

    async def _check_redis(self) -> str:
        redis = self._shared.redis
        if redis is None:
            return "off"
        try:
            await asyncio.wait_for(redis.ping(), CHECK_TIMEOUT)
        except Exception as error:
            return f"unreachable ({self._why(error)}): running on per-process fallbacks"
        return "ok"

    def _why(self, error: BaseException) -> str:
        cause = getattr(error, "orig", None) or error
        text = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        return self._redact(text)
