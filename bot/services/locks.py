"""One action at a time per member: ten /ban and /unban of one member run in turn.

The lease lives in the database, so it holds across processes and whether or
not Redis is up; it is taken and released in short statements, never held as
a connection across Discord's retries, and a lease whose holder died runs out
by itself. Waiters in this process queue on a local lock first, so only one of
them polls the database.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.domain.errors import DatabaseUnavailable, LockdownError
from bot.domain.ports import Clock
from db.engine import Database

log = logging.getLogger(__name__)

#: Longer than any action takes, Discord's retries included (about 25 s).
LEASE = timedelta(seconds=90)
#: How long a second action on the same member waits its turn before giving up.
WAIT = 30.0


class MemberBusy(LockdownError):
    """Another action on this member did not finish in time."""


class MemberLocks:
    def __init__(self, database: Database, clock: Clock, *, wait: float = WAIT) -> None:
        self._database = database
        self._clock = clock
        self._wait = wait
        self._process = secrets.token_hex(6)
        self._serial = itertools.count(1)
        self._local: dict[tuple[int, int], asyncio.Lock] = {}
        self._users: dict[tuple[int, int], int] = {}

    @asynccontextmanager
    async def hold(self, guild_id: int, target_id: int) -> AsyncIterator[None]:
        """Run the body while holding the member's lease; raises `MemberBusy` if another
        holder does not finish within the wait, or `DatabaseUnavailable`."""
        key = (guild_id, target_id)
        local = self._local.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with local:
                owner = f"{self._process}:{next(self._serial)}"
                await self._take(guild_id, target_id, owner)
                try:
                    yield
                finally:
                    await self._release(guild_id, target_id, owner)
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._local[key]

    async def _take(self, guild_id: int, target_id: int, owner: str) -> None:
        deadline = time.monotonic() + self._wait
        pause = 0.02
        while True:
            now = self._clock.now()
            async with self._database.autocommit() as uow:
                if await uow.locks.take(
                    guild_id, target_id, owner=owner, now=now, until=now + LEASE
                ):
                    return
            if time.monotonic() >= deadline:
                raise MemberBusy(
                    "Another action on this member is still in progress; try again in a moment."
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    async def _release(self, guild_id: int, target_id: int, owner: str) -> None:
        try:
            async with self._database.autocommit() as uow:
                await uow.locks.release(guild_id, target_id, owner=owner)
        except DatabaseUnavailable:
            log.warning("could not release the lease on %s in %s; it runs out", target_id, guild_id)
