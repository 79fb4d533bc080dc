"""What one bot process runs and how its shared state is doing (`/status`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.shards import ShardScope
from bot.infra.cache import CacheStats
from bot.infra.shared import Shared


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    shard_ids: tuple[int, ...]
    shard_count: int
    shared_through_redis: bool
    config_cache: CacheStats
    events_received: int


class StatusService:
    def __init__(self, shared: Shared, scope: Callable[[], ShardScope]) -> None:
        self._shared = shared
        self._scope = scope

    def read(self) -> ProcessStatus:
        scope = self._scope()
        return ProcessStatus(
            shard_ids=tuple(sorted(scope.shard_ids)),
            shard_count=scope.shard_count,
            shared_through_redis=self._shared.uses_redis,
            config_cache=self._shared.config_cache.stats(),
            events_received=self._shared.bus.received,
        )
