"""Cases a crash or an outage left pending are settled from what Discord shows.

The database is shared with other tests, so a sweep may settle their leftovers
too: assertions name this test's own cases."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.lifecycle import Action, CaseState, DiscordEntry
from bot.domain.models import Case, NewCase
from bot.domain.ports import Membership
from bot.domain.reasons import audit_reason
from bot.services.container import Services
from bot.services.reconcile import AuditRecord
from bot.services.settling import STALE_AFTER
from db.engine import Database
from tests.bot.services.conftest import BOT
from tests.bot.services.edge import MEMBER, MOD, NOW, FixedClock, RecordingGateway, request
from tests.helpers import record


async def left_pending(database: Database, guild_id: int, action: Action, **extra: object) -> Case:
    """What a crash between recording the intent and confirming it leaves behind."""
    new = NewCase(action, MEMBER, MOD, NOW, reason="spam", state=CaseState.PENDING, **extra)  # type: ignore[arg-type]
    return await record(database, guild_id, new)


async def state_of(database: Database, guild_id: int, number: int) -> CaseState:
    async with database.autocommit() as uow:
        return (await uow.cases.require(guild_id, number)).state


async def test_a_ban_discord_shows_is_confirmed_and_replaces_the_old_one(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    old = await services.moderation.act(request(guild_id, Action.BAN, duration=timedelta(days=1)))
    intent = await left_pending(database, guild_id, Action.BAN)
    gateway.banned.add(MEMBER)

    await services.settling.settle_stale()
    assert await state_of(database, guild_id, intent.number) is CaseState.PENDING  # in its lease
    clock.at = NOW + STALE_AFTER + timedelta(seconds=1)
    assert await services.settling.settle_stale() >= 1  # the database is shared with other tests

    async with database.autocommit() as uow:
        active = await uow.cases.active(guild_id, MEMBER, Action.BAN)
        ended = await uow.cases.require(guild_id, old.case.number)
    assert active is not None
    assert active.number == intent.number
    assert active.related_number == old.case.number
    assert ended.state is CaseState.CLOSED


async def test_an_action_that_never_happened_fails_and_its_dm_is_taken_back(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    intent = await left_pending(database, guild_id, Action.KICK)
    # The DM went out, then the process died before storing its id or kicking.
    await gateway.send_dm(MEMBER, f"You have been kicked from **Test** (case #{intent.number}).")
    gateway.members[MEMBER] = Membership(timed_out_until=None, role_ids=frozenset())
    clock.at = NOW + STALE_AFTER + timedelta(seconds=1)

    assert await services.settling.settle_stale() >= 1
    assert await state_of(database, guild_id, intent.number) is CaseState.FAILED
    assert ("find_dm", MEMBER, f"(case #{intent.number})") in gateway.calls
    assert gateway.names()[-1] == "delete_dm"


async def test_a_mute_is_settled_by_the_members_timeout(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    applied = await left_pending(
        database, guild_id, Action.MUTE, expires_at=NOW + timedelta(hours=2)
    )
    clock.at = NOW + STALE_AFTER + timedelta(seconds=1)
    gateway.members[MEMBER] = Membership(NOW + timedelta(hours=2), frozenset())
    assert await services.settling.settle_stale() >= 1
    assert await state_of(database, guild_id, applied.number) is CaseState.ACTIVE


async def test_a_warning_needs_no_discord_answer_and_is_confirmed(
    services: Services, database: Database, clock: FixedClock, guild_id: int
) -> None:
    warning = await left_pending(database, guild_id, Action.WARN)
    clock.at = NOW + STALE_AFTER + timedelta(seconds=1)
    assert await services.settling.settle_stale() >= 1
    assert await state_of(database, guild_id, warning.number) is CaseState.ACTIVE


async def test_an_own_audit_entry_links_to_the_case_it_names_not_the_newest(
    services: Services, database: Database, guild_id: int
) -> None:
    """Two kicks of one member (they came back in between): the first was applied and
    then the bot died; its entry must confirm the first case, not link the second."""
    first = await left_pending(database, guild_id, Action.KICK)
    second = await left_pending(database, guild_id, Action.KICK)
    entry = AuditRecord(
        guild_id=guild_id, entry_id=555, kind=DiscordEntry.KICK, actor_id=BOT.id,
        target_id=MEMBER, reason=audit_reason("mod", MOD, "spam", case=first.number),
        at=NOW - timedelta(seconds=1),
    )  # fmt: skip
    assert await services.reconcile.catch_up(guild_id, [entry]) == 0  # nothing new recorded
    async with database.autocommit() as uow:
        linked = await uow.cases.require(guild_id, first.number)
        other = await uow.cases.require(guild_id, second.number)
    assert (linked.state, linked.audit_log_entry_id) == (CaseState.CLOSED, 555)
    assert (other.state, other.audit_log_entry_id) == (CaseState.PENDING, None)
