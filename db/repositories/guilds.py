"""Guilds, their members, and the users we have seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, delete, select, update

from bot.domain.models import Guild, Member, User
from db.models import GuildRow, MemberRow, UserRow, table_of
from db.repositories._sql import Repository

guilds = table_of(GuildRow)
members = table_of(MemberRow)
users = table_of(UserRow)


_GUILD_COLUMNS = [guilds.c[name] for name in Guild.__slots__]


def _to_guild(row: Row[Any]) -> Guild:
    return Guild(**row._mapping)


class GuildRepository(Repository):
    """A guild's own row. Every method is scoped by `guild_id`."""

    async def record_join(self, guild_id: int, name: str, *, now: datetime) -> Guild:
        """Create the guild, or mark it present again (keeping its data) on rejoin."""
        statement = self._upsert(guilds).values(id=guild_id, name=name, joined_at=now, left_at=None)
        statement = statement.on_conflict_do_update(
            index_elements=[guilds.c.id], set_={"name": name, "left_at": None}
        ).returning(*_GUILD_COLUMNS)
        result = await self._execute(statement)
        return _to_guild(result.one())

    async def get(self, guild_id: int) -> Guild | None:
        result = await self._execute(select(*_GUILD_COLUMNS).where(guilds.c.id == guild_id))
        row = result.first()
        return None if row is None else _to_guild(row)

    async def record_leave(self, guild_id: int, *, now: datetime) -> Guild | None:
        """Mark the guild as left; its data is kept until the retention job purges it."""
        result = await self._execute(
            update(guilds)
            .where(guilds.c.id == guild_id)
            .values(left_at=now)
            .returning(*_GUILD_COLUMNS)
        )
        row = result.first()
        return None if row is None else _to_guild(row)

    async def audit_cursor(self, guild_id: int) -> int | None:
        """The newest audit-log entry start-up reconciliation has seen."""
        result = await self._execute(select(guilds.c.audit_cursor).where(guilds.c.id == guild_id))
        return result.scalar_one_or_none()

    async def set_audit_cursor(self, guild_id: int, entry_id: int) -> None:
        await self._execute(
            update(guilds).where(guilds.c.id == guild_id).values(audit_cursor=entry_id)
        )

    async def purge(self, guild_id: int) -> bool:
        """Delete the guild and, by cascade, every row it owns."""
        result = await self._execute(delete(guilds).where(guilds.c.id == guild_id))
        return bool(cast(CursorResult[Any], result).rowcount)


class MemberRepository(Repository):
    """Who joined and left a guild, and when. Every method is scoped by `guild_id`."""

    async def record_join(self, guild_id: int, user_id: int, *, now: datetime) -> Member:
        statement = self._upsert(members).values(
            guild_id=guild_id, user_id=user_id, joined_at=now, left_at=None
        )
        statement = statement.on_conflict_do_update(
            index_elements=[members.c.guild_id, members.c.user_id],
            set_={"joined_at": now, "left_at": None},
        ).returning(*members.c)
        result = await self._write(guild_id, statement)
        return Member(**result.one()._mapping)

    async def record_leave(self, guild_id: int, user_id: int, *, now: datetime) -> Member:
        statement = self._upsert(members).values(
            guild_id=guild_id, user_id=user_id, joined_at=None, left_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[members.c.guild_id, members.c.user_id], set_={"left_at": now}
        ).returning(*members.c)
        result = await self._write(guild_id, statement)
        return Member(**result.one()._mapping)

    async def get(self, guild_id: int, user_id: int) -> Member | None:
        result = await self._execute(
            select(*members.c).where(members.c.guild_id == guild_id, members.c.user_id == user_id)
        )
        row = result.first()
        return None if row is None else Member(**row._mapping)


class UserRepository(Repository):
    """Discord users are global, not tenant data: names for display only."""

    async def remember(self, user_id: int, name: str, *, now: datetime) -> User:
        statement = self._upsert(users).values(id=user_id, name=name, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[users.c.id], set_={"name": name, "updated_at": now}
        ).returning(*users.c)
        result = await self._execute(statement)
        return User(**result.one()._mapping)

    async def get(self, user_id: int) -> User | None:
        result = await self._execute(select(*users.c).where(users.c.id == user_id))
        row = result.first()
        return None if row is None else User(**row._mapping)
