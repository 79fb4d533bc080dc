"""Which process acts for which guild: Discord's shard formula."""

from __future__ import annotations

from dataclasses import dataclass


def shard_of(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class ShardScope:
    """The shards one process owns; only it acts on their guilds' timers."""

    shard_count: int
    shard_ids: frozenset[int]

    def owns(self, guild_id: int) -> bool:
        return shard_of(guild_id, self.shard_count) in self.shard_ids
