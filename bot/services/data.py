"""A guild's data: its arrival and departure, its export, and its removal."""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from bot.domain.errors import GuildNotFound
from bot.domain.ports import Clock
from bot.services.config import ConfigService
from db.engine import Database

log = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _record(kind: str, item: Any) -> dict[str, Any]:
    fields = dataclasses.asdict(item)
    return {"kind": kind, **{key: _plain(value) for key, value in fields.items()}}


class DataService:
    def __init__(self, database: Database, config: ConfigService, clock: Clock) -> None:
        self._database = database
        self._config = config
        self._clock = clock

    async def export(self, guild_id: int) -> list[dict[str, Any]]:
        """Everything Lockdown keeps about a guild, one JSON-ready record each."""
        async with self._database.transaction() as uow:  # one consistent snapshot
            guild = await uow.guilds.get(guild_id)
            if guild is None:
                raise GuildNotFound(guild_id)
            records = [_record("guild", guild)]
            records += [_record("setting", s) for s in (await uow.settings.all(guild_id)).values()]
            records += [_record("feature", f) for f in (await uow.features.all(guild_id)).values()]
            records += [_record("policy", p) for p in await uow.policies.list(guild_id)]
            records += [_record("case", c) for c in await uow.cases.all(guild_id)]
            records += [_record("change", a) for a in await uow.changes.all(guild_id)]
        return records

    async def purge(self, guild_id: int) -> bool:
        """Delete the guild and everything it owns; False if there was nothing.

        If the bot is still in the guild, the guild itself stays (empty), so the
        bot's next case there has somewhere to belong: it starts afresh.
        """
        async with self._database.transaction() as uow:
            guild = await uow.guilds.get(guild_id)
            if guild is None:
                return False
            await uow.guilds.purge(guild_id)
            if guild.left_at is None:
                await uow.guilds.record_join(guild_id, guild.name, now=self._clock.now())
        await self._config.refresh(guild_id)  # back to the defaults in every process
        return True

    async def arrived(self, guild_id: int, name: str) -> None:
        """The bot is in this guild (it joined, or came back): its cases have somewhere
        to belong, and a guild that was leaving keeps its data."""
        async with self._database.autocommit() as uow:
            await uow.guilds.record_join(guild_id, name, now=self._clock.now())

    async def left(self, guild_id: int) -> None:
        """The bot left (or was removed): keep the data for the retention period."""
        async with self._database.autocommit() as uow:
            await uow.guilds.record_leave(guild_id, now=self._clock.now())

    async def purge_departed(self) -> list[int]:
        """Purge guilds whose retention period ran out; a rejoin clears `left_at` first."""
        now = self._clock.now()
        async with self._database.autocommit() as uow:
            departed = await uow.departed.left_before(now)
        purged = []
        for guild_id, left_at in departed:
            days = (await self._config.get(guild_id)).retention_days
            if left_at + timedelta(days=days) <= now and await self.purge(guild_id):
                log.info("purged guild %s, left %s, after %d days", guild_id, left_at, days)
                purged.append(guild_id)
        return purged


def records_as_lines(records: list[dict[str, Any]]) -> Iterator[str]:
    """JSON Lines: one record a line, keys sorted so exports diff cleanly."""
    for record in records:
        yield json.dumps(record, ensure_ascii=False, sort_keys=True)
