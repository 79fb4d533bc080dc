"""Recording a case that ends or replaces the one in force: one helper for every path.

A new ban replaces the ban in force, an unban ends it, an expiry ends one
particular case and records its closing case, a pardon ends the case it
names. Each is an update and an insert; SQLite cannot make them one
statement, so they share one transaction, and either both happen or neither.
A case that ends nothing (a warning, a kick, a note) is one statement on the
case log's fast path, with no transaction around it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import Case, NewCase
from db.engine import Database
from db.unit_of_work import UnitOfWork


class _NotPending(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Recorded:
    case: Case
    ended: Case | None  # the case in force it ended or replaced, if any


async def record_case(
    database: Database,
    guild_id: int,
    new: NewCase,
    *,
    revoked_by: int | None,
    revoke_reason: str | None,
    ending: int | None = None,
) -> Recorded | None:
    """End what `new` ends or replaces, then record `new` related to it.

    With `ending`, only that case is ended, and None is returned (recording
    nothing) if it is no longer in force: another process or a pardon ended
    it first. Without it, the member's case in force of the kind `new` lifts
    (if any) is ended. `revoked_by` None means nobody revoked it: it ran out.
    """
    lifted = new.type.kind.lifted
    if ending is None and lifted is None:
        async with database.autocommit() as uow:
            return Recorded(await uow.cases.create(guild_id, new), None)
    async with database.transaction() as uow:
        return await end_and_record(
            uow, guild_id, new, revoked_by=revoked_by, revoke_reason=revoke_reason, ending=ending
        )


async def end_and_record(
    uow: UnitOfWork,
    guild_id: int,
    new: NewCase,
    *,
    revoked_by: int | None,
    revoke_reason: str | None,
    ending: int | None = None,
) -> Recorded | None:
    """`record_case` inside a transaction the caller holds (a mass ban records many)."""
    assert uow.transactional, "ending and recording must commit together"
    ended = await _end(
        uow, guild_id, new.type, new.target_id, new.created_at,
        revoked_by=revoked_by, revoke_reason=revoke_reason, ending=ending,
    )  # fmt: skip
    if ended is None and ending is not None:
        return None
    if ended is not None and new.related_number is None:
        new = replace(new, related_number=ended.number)
    return Recorded(await uow.cases.create(guild_id, new), ended)


async def confirm_case(
    database: Database,
    pending: Case,
    *,
    revoked_by: int,
    revoke_reason: str | None,
    at: datetime,
    lifted_since: str | None = None,
    **values: object,
) -> Recorded | None:
    """Discord carried a pending case's action out: end what it ends or replaces and
    put the case in force (or close it), in one transaction. None if the case was
    no longer pending (reconciliation settled it meanwhile).

    A late confirmation (settling what a crash left pending) ends only older cases,
    and a ban or mute that is not in force any more closes instead: with
    `lifted_since` (why), or when a newer one of its kind is in force."""
    if pending.type.kind.lifted is None:  # nothing to end: one statement, no transaction
        async with database.autocommit() as uow:
            case = await uow.cases.settle(
                pending.guild_id, pending.number, pending.type.kind.confirmed_state, **values
            )
        return None if case is None else Recorded(case, None)
    try:
        async with database.transaction() as uow:
            ended = await _end(
                uow, pending.guild_id, pending.type, pending.target_id, at,
                revoked_by=revoked_by, revoke_reason=revoke_reason, ending=None,
                older_than=pending.number,
            )  # fmt: skip
            if ended is not None and pending.related_number is None:
                values["related_number"] = ended.number
            state = pending.type.kind.confirmed_state
            if state is CaseState.ACTIVE:
                newer = await uow.cases.active(pending.guild_id, pending.target_id, pending.type)
                if newer is not None and newer.number > pending.number:
                    lifted_since = f"superseded by case #{newer.number}"
                if lifted_since is not None:
                    state = CaseState.CLOSED
                    values |= {"revoked_at": at, "revoke_reason": lifted_since}
            case = await uow.cases.settle(pending.guild_id, pending.number, state, **values)
            if case is None:
                raise _NotPending  # roll the ending back too
    except _NotPending:
        return None
    return Recorded(case, ended)


async def _end(
    uow: UnitOfWork,
    guild_id: int,
    action: Action,
    target_id: int,
    at: datetime,
    *,
    revoked_by: int | None,
    revoke_reason: str | None,
    ending: int | None,
    older_than: int | None = None,
) -> Case | None:
    """End case `ending`, or else the member's case in force of the kind `action` lifts
    (only one numbered below `older_than`, if given)."""
    revoked_at = None if revoked_by is None else at
    if ending is not None:
        return await uow.cases.close(
            guild_id, ending,
            revoked_by=revoked_by, revoked_at=revoked_at, revoke_reason=revoke_reason,
        )  # fmt: skip
    lifted = action.kind.lifted
    if lifted is None:
        return None
    return await uow.cases.close_active(
        guild_id, target_id, lifted, older_than=older_than,
        revoked_by=revoked_by, revoked_at=revoked_at, revoke_reason=revoke_reason,
    )  # fmt: skip
