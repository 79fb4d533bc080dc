"""Leases on members: one action at a time per member of a guild, across processes.

Every method is scoped by `guild_id`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from db.models import MemberLockRow, table_of
from db.repositories._sql import Repository

locks = table_of(MemberLockRow)


class MemberLockRepository(Repository):
    async def take(
        self, guild_id: int, target_id: int, *, owner: str, now: datetime, until: datetime
    ) -> bool:
        """Take the lease if nobody holds it or the holder's lease ran out.

        One statement: an insert that, on conflict, takes over only an expired
        lease, so of two racing callers exactly one gets it.
        """
        statement = self._upsert(locks).values(
            guild_id=guild_id, target_id=target_id, owner=owner, expires_at=until
        )
        statement = statement.on_conflict_do_update(
            index_elements=[locks.c.guild_id, locks.c.target_id],
            set_={"owner": owner, "expires_at": until},
            where=locks.c.expires_at <= now,
        ).returning(locks.c.owner)
        result = await self._write(guild_id, statement)
        return result.scalar_one_or_none() == owner

    async def release(self, guild_id: int, target_id: int, *, owner: str) -> None:
        """Give the lease back (only if it is still ours)."""
        await self._execute(
            delete(locks).where(
                locks.c.guild_id == guild_id,
                locks.c.target_id == target_id,
                locks.c.owner == owner,
            )
        )
