"""The scheduler's view of the case log: what is due next, across owned guilds.

This is the one read that spans guilds, and it is bounded by the process's own
shards. It returns only keys and times; acting on an item goes through the
guild-scoped `CaseRepository`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, literal_column, select

from bot.domain.shards import ShardScope
from db.models import CaseRow, table_of
from db.repositories._sql import Repository
from db.repositories.cases import IN_FORCE

cases = table_of(CaseRow)


class TimerKind(enum.StrEnum):
    EXPIRE = "expire"  # the case ends
    RENEW = "renew"  # a long mute's Discord timeout needs extending


@dataclass(frozen=True, slots=True)
class Timer:
    guild_id: int
    number: int
    kind: TimerKind
    at: datetime


def _owned(scope: ShardScope) -> ColumnElement[bool]:
    # PostgreSQL shifts a bigint by an integer, so the 22 is written as a literal.
    shard = cases.c.guild_id.op(">>")(literal_column("22")) % scope.shard_count
    return shard.in_(sorted(scope.shard_ids))


def expiry_query(scope: ShardScope) -> Select[tuple[int, int, str, datetime]]:
    # The predicate repeats the partial index's own, so both backends use it.
    return select(
        cases.c.guild_id,
        cases.c.number,
        literal(TimerKind.EXPIRE.value).label("kind"),
        cases.c.expires_at.label("at"),
    ).where(and_(IN_FORCE, cases.c.expires_at.is_not(None)), _owned(scope))


def renewal_query(scope: ShardScope) -> Select[tuple[int, int, str, datetime]]:
    return select(
        cases.c.guild_id,
        cases.c.number,
        literal(TimerKind.RENEW.value).label("kind"),
        cases.c.renew_at.label("at"),
    ).where(and_(IN_FORCE, cases.c.renew_at.is_not(None)), _owned(scope))


@dataclass(frozen=True, slots=True)
class Intent:
    guild_id: int
    number: int


class TimerQueue(Repository):
    async def stale_intents(
        self, scope: ShardScope, *, before: datetime, limit: int = 100
    ) -> list[Intent]:
        """Cases left pending since before `before` in the owned guilds, oldest first."""
        rows = await self._execute(
            select(cases.c.guild_id, cases.c.number)
            .where(cases.c.state == literal_column("'pending'"), cases.c.created_at < before)
            .where(_owned(scope))
            .order_by(cases.c.created_at)
            .limit(limit)
        )
        return [Intent(r.guild_id, r.number) for r in rows]

    async def upcoming(self, scope: ShardScope, *, limit: int = 1) -> list[Timer]:
        """The earliest timers of the owned guilds, due or not, soonest first."""
        return await self._first([expiry_query(scope), renewal_query(scope)], limit)

    async def due(self, scope: ShardScope, now: datetime, *, limit: int = 100) -> list[Timer]:
        """Timers at or before `now`, oldest first."""
        return await self._first(
            [
                expiry_query(scope).where(cases.c.expires_at <= now),
                renewal_query(scope).where(cases.c.renew_at <= now),
            ],
            limit,
        )

    async def counts(self, scope: ShardScope, now: datetime) -> tuple[int, int]:
        """(pending, overdue): the owned guilds' timers after `now`, and at or before it."""
        pending = overdue = 0
        for query in (expiry_query(scope), renewal_query(scope)):
            at = query.selected_columns.at
            totals = query.with_only_columns(
                func.count(), func.coalesce(func.sum(case((at <= now, 1), else_=0)), 0)
            )
            row: Any = (await self._execute(totals)).one()
            total, due = int(row[0]), int(row[1])
            pending += total - due
            overdue += due
        return pending, overdue

    async def _first(
        self, queries: list[Select[tuple[int, int, str, datetime]]], limit: int
    ) -> list[Timer]:
        timers: list[Timer] = []
        for query in queries:  # each walks its own partial index in order
            rows = await self._execute(query.order_by("at").limit(limit))
            timers += [Timer(r.guild_id, r.number, TimerKind(r.kind), r.at) for r in rows]
        return sorted(timers, key=lambda timer: timer.at)[:limit]
