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

from bot.domain.models import Case, NewCase
from db.engine import Database
from db.unit_of_work import UnitOfWork


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
    lifted = new.type.kind.lifted
    revoked_at = None if revoked_by is None else new.created_at
    ended: Case | None = None
    if ending is not None:
        ended = await uow.cases.close(
            guild_id,
            ending,
            revoked_by=revoked_by,
            revoked_at=revoked_at,
            revoke_reason=revoke_reason,
        )
        if ended is None:
            return None
    elif lifted is not None:
        ended = await uow.cases.close_active(
            guild_id,
            new.target_id,
            lifted,
            revoked_by=revoked_by,
            revoked_at=revoked_at,
            revoke_reason=revoke_reason,
        )
    if ended is not None and new.related_number is None:
        new = replace(new, related_number=ended.number)
    return Recorded(await uow.cases.create(guild_id, new), ended)
