"""Users' last known names, so every mod-log entry and reply can name people.

Commands learn names from Discord for free (the interaction carries them);
timers, reconciliation, mass bans and pardons act on ids alone and look the
names up here. Writing a name is an upsert kept off the reply's critical
path: one background writer stores the latest name of each user whose name
changed, so a burst of commands costs a few upserts, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from bot.domain.ports import Clock
from db.engine import Database

log = logging.getLogger(__name__)

#: Names kept in memory; older ones are read back from the database.
KEPT = 10_000


class NameBook:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._known: OrderedDict[int, str] = OrderedDict()
        self._unsaved: dict[int, str] = {}
        self._writer: asyncio.Task[None] | None = None

    def remember(self, user_id: int, name: str) -> None:
        """Keep a name seen just now; stored in the background if it changed."""
        if not name or name == str(user_id) or self._known.get(user_id) == name:
            return
        self._keep(user_id, name)
        self._unsaved[user_id] = name
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_all())

    async def name(self, user_id: int) -> str:
        """The last known name, or the id as text for someone never seen."""
        if (known := self._known.get(user_id)) is not None:
            self._known.move_to_end(user_id)
            return known
        async with self._database.autocommit() as uow:
            user = await uow.users.get(user_id)
        if user is None:
            return str(user_id)
        self._keep(user_id, user.name)
        return user.name

    async def flush(self) -> None:
        """Wait for the names being stored (at shutdown, and in tests)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer})

    def _keep(self, user_id: int, name: str) -> None:
        self._known[user_id] = name
        self._known.move_to_end(user_id)
        while len(self._known) > KEPT:
            self._known.popitem(last=False)

    async def _write_all(self) -> None:
        while self._unsaved:
            user_id = next(iter(self._unsaved))
            name = self._unsaved.pop(user_id)
            try:
                async with self._database.autocommit() as uow:
                    await uow.users.remember(user_id, name[:100], now=self._clock.now())
            except Exception as error:  # a name is a nicety; never let it fail an action
                log.warning("could not store the name of user %s: %s", user_id, error)
