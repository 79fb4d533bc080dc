"""The case log. Every method is scoped by `guild_id`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    Dialect,
    Executable,
    Insert,
    Select,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)

from bot.domain.errors import (
    AlreadyActive,
    CaseNotFound,
    DuplicateAuditEntry,
    GuildNotFound,
    LockdownError,
)
from bot.domain.lifecycle import TRANSITIONS, Action, CaseState
from bot.domain.models import Case, NewCase
from db.models import CaseRow, GuildRow, table_of
from db.repositories._sql import (
    INTEGRITY_ERRORS,
    DriverStatement,
    Repository,
    is_foreign_key_error,
    violated,
)

cases = table_of(CaseRow)
_NEW_CASE_FIELDS = tuple(NewCase.__slots__)  # type, target_id, ... (no guild, no number)
_CASE_COLUMNS: list[Column[Any]] = [cases.c[name] for name in Case.__slots__]

#: The lifecycle states written as literals: the partial indexes' predicates say
#: `state = 'active'`, and SQLite's planner only matches a literal, never a
#: bound parameter, so a query that binds the state would scan the case log.
IN_FORCE = cases.c.state == literal_column(f"'{CaseState.ACTIVE.value}'")
_PENDING = cases.c.state == literal_column(f"'{CaseState.PENDING.value}'")
_NOT_FAILED = cases.c.state != literal_column(f"'{CaseState.FAILED.value}'")


def _to_case(values: Mapping[Any, Any]) -> Case:
    """Map a row (or the fast path's dict) by column name."""
    return Case(**{**values, "type": Action(values["type"]), "state": CaseState(values["state"])})


@cache
def _insert_statement(dialect: str) -> Insert:
    """One statement that allocates the next number and inserts the case.

    Being a single statement, it needs no explicit transaction, so recording a
    case costs one round trip. How the number is allocated differs:

    * SQLite runs one writer at a time and a writing statement takes the write
      lock before it reads, so `MAX(number) + 1` inside the INSERT is atomic,
      across connections and processes alike.
    * PostgreSQL runs writers concurrently; bumping `guilds.last_case_number`
      takes that row's lock, so concurrent allocations in a guild queue up and
      each sees the previous one's committed value.
    """
    guild_id = bindparam("guild_id", type_=cases.c.guild_id.type)
    fields = [bindparam(name, type_=cases.c[name].type) for name in _NEW_CASE_FIELDS]
    if dialect == "postgresql":
        counter = (
            update(GuildRow)
            .where(GuildRow.id == guild_id)
            .values(last_case_number=GuildRow.last_case_number + literal_column("1"))
            .returning(GuildRow.last_case_number)
            .cte("counter")
        )
        source = select(guild_id, counter.c.last_case_number, *fields)
    else:
        next_number = func.coalesce(func.max(cases.c.number), literal_column("0")) + literal_column(
            "1"
        )
        source = select(guild_id, next_number, *fields).where(cases.c.guild_id == guild_id)
    statement = insert(cases).from_select(["guild_id", "number", *_NEW_CASE_FIELDS], source)
    if dialect == "postgresql":
        statement = statement.add_cte(counter, nest_here=True)
    return statement.returning(*_CASE_COLUMNS)


@cache
def _driver_insert(dialect: Dialect) -> DriverStatement:
    """`_insert_statement`, compiled once, for `record_case`."""
    return DriverStatement(_insert_statement(dialect.name), dialect, cases, _CASE_COLUMNS)


def history_query(guild_id: int, target_id: int, *, limit: int, before: int | None) -> Select[Any]:
    """Served by `ix_cases_guild_target_number`, read backwards: no sort, no scan."""
    query = select(*_CASE_COLUMNS).where(
        cases.c.guild_id == guild_id, cases.c.target_id == target_id
    )
    if before is not None:
        query = query.where(cases.c.number < before)
    return query.order_by(cases.c.number.desc()).limit(limit)


def _params(guild_id: int, new: NewCase) -> dict[str, Any]:
    params = {name: getattr(new, name) for name in _NEW_CASE_FIELDS}
    params["guild_id"] = guild_id
    params["type"] = new.type.value
    params["state"] = new.state.value
    return params


def _refusal(error: Exception, guild_id: int, new: NewCase) -> LockdownError | None:
    """The domain error an integrity error on insert stands for, if any."""
    if violated(error, "uq_cases_active_punishment", ("guild_id", "target_id", "type")):
        return AlreadyActive(guild_id, new.target_id, new.type.value)
    if violated(error, "uq_cases_audit_log_entry", ("guild_id", "audit_log_entry_id")):
        return DuplicateAuditEntry(guild_id, new.audit_log_entry_id or 0)
    if is_foreign_key_error(error):
        return GuildNotFound(guild_id)
    return None


class CaseRepository(Repository):
    """Reads and writes one guild's cases at a time."""

    async def create(self, guild_id: int, new: NewCase) -> Case:
        """Record a case under the guild's next number, in this unit of work.

        Raises `GuildNotFound`, `AlreadyActive` (a second active ban or mute)
        or `DuplicateAuditEntry` (this audit-log entry is already a case).

        The number is allocated inside the insert statement, so it needs no
        transaction of its own: in a unit of work that runs no transaction and
        has opened no connection, the statement goes straight through the
        driver on a pooled connection (`DriverStatement`), the case log's hot
        write path; otherwise it runs on the unit's connection.
        """
        uow = self._uow
        params = _params(guild_id, new)
        row: Mapping[Any, Any] | None
        try:
            if uow.transactional or uow.opened:
                result = await uow.execute(_insert_statement(uow.dialect), params)
                row = result.mappings().first()
            else:
                row = await _driver_insert(uow.engine.dialect).fetch_one(uow.engine, params)
        except INTEGRITY_ERRORS as error:
            refusal = _refusal(error, guild_id, new)
            if refusal is None:
                raise
            raise refusal from None
        if row is None:
            raise GuildNotFound(guild_id)
        return _to_case(row)

    async def get(self, guild_id: int, number: int) -> Case | None:
        return await self._one(
            select(*_CASE_COLUMNS).where(cases.c.guild_id == guild_id, cases.c.number == number)
        )

    async def require(self, guild_id: int, number: int) -> Case:
        """Like `get`, but raises `CaseNotFound`."""
        case = await self.get(guild_id, number)
        if case is None:
            raise CaseNotFound(guild_id, number)
        return case

    async def history(
        self,
        guild_id: int,
        target_id: int,
        *,
        limit: int = 20,
        before: int | None = None,
        include_failed: bool = False,
    ) -> list[Case]:
        """A target's cases, newest first; `before` pages by case number.

        Actions Discord refused are left out unless asked for.
        """
        query = history_query(guild_id, target_id, limit=limit, before=before)
        if not include_failed:
            query = query.where(_NOT_FAILED)
        return await self._many(query)

    async def all(self, guild_id: int) -> list[Case]:
        """Every case of the guild, oldest first (for exports)."""
        return await self._many(
            select(*_CASE_COLUMNS).where(cases.c.guild_id == guild_id).order_by(cases.c.number)
        )

    async def count_for_target(
        self, guild_id: int, target_id: int, *, include_failed: bool = False
    ) -> int:
        query = (
            select(func.count())
            .select_from(cases)
            .where(cases.c.guild_id == guild_id, cases.c.target_id == target_id)
        )
        if not include_failed:
            query = query.where(_NOT_FAILED)
        return int((await self._execute(query)).scalar_one())

    async def active(self, guild_id: int, target_id: int, type: Action) -> Case | None:
        """The target's ban or mute in force, if any."""
        return await self._one(
            select(*_CASE_COLUMNS).where(
                cases.c.guild_id == guild_id,
                cases.c.target_id == target_id,
                cases.c.type == type.value,
                IN_FORCE,
            )
        )

    async def in_force(
        self, guild_id: int, type: Action, *, after: int = 0, limit: int = 100
    ) -> list[Case]:
        """The guild's bans or mutes in force numbered above `after`, in number order
        (a page at a time)."""
        return await self._many(
            select(*_CASE_COLUMNS)
            .where(
                cases.c.guild_id == guild_id,
                cases.c.type == type.value,
                IN_FORCE,
                cases.c.number > after,
            )
            .order_by(cases.c.number)
            .limit(limit)
        )

    async def active_warnings(
        self, guild_id: int, target_id: int, *, now: datetime, since: datetime | None = None
    ) -> list[Case]:
        """Warnings that still count: in force, not expired, newer than `since`."""
        query = select(*_CASE_COLUMNS).where(
            cases.c.guild_id == guild_id,
            cases.c.target_id == target_id,
            cases.c.type == Action.WARN.value,
            IN_FORCE,
            (cases.c.expires_at.is_(None)) | (cases.c.expires_at > now),
        )
        if since is not None:
            query = query.where(cases.c.created_at >= since)
        return await self._many(query.order_by(cases.c.number.desc()))

    async def find_by_audit_entry(self, guild_id: int, audit_log_entry_id: int) -> Case | None:
        return await self._one(
            select(*_CASE_COLUMNS).where(
                cases.c.guild_id == guild_id, cases.c.audit_log_entry_id == audit_log_entry_id
            )
        )

    async def find_unlinked(
        self, guild_id: int, target_id: int, types: Sequence[Action], *, since: datetime
    ) -> Case | None:
        """The newest case of these types for the target, recorded since `since`, that
        no Discord audit-log entry is linked to yet (failed ones did nothing to link)."""
        return await self._one(
            select(*_CASE_COLUMNS)
            .where(
                cases.c.guild_id == guild_id,
                cases.c.target_id == target_id,
                cases.c.type.in_([t.value for t in types]),
                cases.c.audit_log_entry_id.is_(None),
                cases.c.created_at >= since,
                _NOT_FAILED,
            )
            .order_by(cases.c.number.desc())
            .limit(1)
        )

    async def link_audit_entry(self, guild_id: int, number: int, audit_log_entry_id: int) -> Case:
        """Remember which Discord audit-log entry a case produced."""
        try:
            return await self._update(guild_id, number, audit_log_entry_id=audit_log_entry_id)
        except INTEGRITY_ERRORS:
            raise DuplicateAuditEntry(guild_id, audit_log_entry_id) from None

    async def update_reason(self, guild_id: int, number: int, reason: str) -> Case:
        return await self._update(guild_id, number, reason=reason)

    async def set_renew_at(self, guild_id: int, number: int, renew_at: datetime | None) -> Case:
        """When a long mute's Discord timeout must next be renewed (None: never again)."""
        return await self._update(guild_id, number, renew_at=renew_at)

    async def set_dm_delivered(self, guild_id: int, number: int, delivered: bool) -> Case:
        return await self._update(guild_id, number, dm_delivered=delivered)

    async def settle(
        self, guild_id: int, number: int, state: CaseState, **values: object
    ) -> Case | None:
        """Move a pending case to where Discord's answer puts it (confirmed or failed),
        with what was learnt on the way (`values`: the DM, the case it replaced);
        None if it was not pending (settled already, by another path)."""
        if state not in TRANSITIONS[CaseState.PENDING]:
            raise ValueError(f"a pending case cannot become {state}")
        return await self._one(
            update(cases)
            .where(cases.c.guild_id == guild_id, cases.c.number == number, _PENDING)
            .values(state=state.value, **values)
            .returning(*_CASE_COLUMNS)
        )

    async def pending(self, guild_id: int, *, before: datetime) -> list[Case]:
        """Cases still waiting for Discord's answer, recorded before `before`, oldest first."""
        return await self._many(
            select(*_CASE_COLUMNS)
            .where(cases.c.guild_id == guild_id, _PENDING, cases.c.created_at < before)
            .order_by(cases.c.number)
        )

    async def pending_for(self, guild_id: int, target_id: int) -> list[Case]:
        """The member's cases still waiting for Discord's answer."""
        return await self._many(
            select(*_CASE_COLUMNS)
            .where(cases.c.guild_id == guild_id, cases.c.target_id == target_id, _PENDING)
            .order_by(cases.c.number)
        )

    async def close(
        self,
        guild_id: int,
        number: int,
        *,
        revoked_by: int | None = None,
        revoked_at: datetime | None = None,
        revoke_reason: str | None = None,
    ) -> Case | None:
        """End a case in force; returns it, or `None` if it was not in force.

        The `WHERE state = 'active'` guard makes ending a case happen exactly
        once even when two processes race to expire or pardon it.
        """
        return await self._one(
            update(cases)
            .where(cases.c.guild_id == guild_id, cases.c.number == number, IN_FORCE)
            .values(
                state=CaseState.CLOSED.value,
                revoked_by=revoked_by,
                revoked_at=revoked_at,
                revoke_reason=revoke_reason,
            )
            .returning(*_CASE_COLUMNS)
        )

    async def close_active(
        self,
        guild_id: int,
        target_id: int,
        type: Action,
        *,
        revoked_by: int | None,
        revoked_at: datetime | None,
        revoke_reason: str | None,
        older_than: int | None = None,
    ) -> Case | None:
        """End the target's ban or mute in force (one statement); the ended case, if any.
        With `older_than`, only a case numbered below it: a late confirmation of an
        action never ends what came after it."""
        newer_kept = () if older_than is None else (cases.c.number < older_than,)
        return await self._one(
            update(cases)
            .where(
                cases.c.guild_id == guild_id,
                cases.c.target_id == target_id,
                cases.c.type == type.value,
                IN_FORCE,
                *newer_kept,
            )
            .values(
                state=CaseState.CLOSED.value,
                revoked_by=revoked_by,
                revoked_at=revoked_at,
                revoke_reason=revoke_reason,
            )
            .returning(*_CASE_COLUMNS)
        )

    async def _update(self, guild_id: int, number: int, **values: object) -> Case:
        case = await self._one(
            update(cases)
            .where(cases.c.guild_id == guild_id, cases.c.number == number)
            .values(**values)
            .returning(*_CASE_COLUMNS)
        )
        if case is None:
            raise CaseNotFound(guild_id, number)
        return case

    async def _one(self, statement: Executable) -> Case | None:
        row = (await self._execute(statement)).mappings().first()
        return None if row is None else _to_case(row)

    async def _many(self, statement: Executable) -> list[Case]:
        return [_to_case(row) for row in (await self._execute(statement)).mappings()]
