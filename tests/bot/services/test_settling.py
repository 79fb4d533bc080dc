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
from bot.services.reconcile import AuditRecord, MuteCheck
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
    then the bot died; its entry is linked to the first case, not the second, and
    settling the case is left to the sweep (it reads what Discord shows now)."""
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
    assert (linked.state, linked.audit_log_entry_id) == (CaseState.PENDING, 555)
    assert (other.state, other.audit_log_entry_id) == (CaseState.PENDING, None)


async def test_a_ban_done_then_undone_before_it_was_confirmed_closes_and_keeps_its_dm(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    """Discord shows no ban, but its own entry names the case: it happened and was
    lifted since (an /unban ran while it was pending). Not failed: its DM was true."""
    intent = await left_pending(database, guild_id, Action.BAN)
    await gateway.send_dm(MEMBER, f"You have been banned from **Test** (case #{intent.number}).")
    reason = audit_reason("mod", MOD, "spam", case=intent.number)
    await gateway.ban(guild_id, MEMBER, reason=reason, delete_message_seconds=0)
    # Not in gateway.banned: lifted. Settled alone (a sweep would also settle other
    # tests' cases #1, whose DMs this gateway would find by the same marker).
    assert await services.settling.settle(intent)
    async with database.autocommit() as uow:
        case = await uow.cases.require(guild_id, intent.number)
        active = await uow.cases.active(guild_id, MEMBER, Action.BAN)
    assert case.state is CaseState.CLOSED
    assert case.revoke_reason == "undone on Discord before it was confirmed"
    assert active is None
    assert "delete_dm" not in gateway.names()


async def test_a_late_unmute_does_not_end_the_mute_that_came_after_it(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    """An /unmute done on Discord, left pending; then a /mute: settling the unmute
    (from its entry) must not end the newer mute."""
    intent = await left_pending(database, guild_id, Action.UNMUTE)
    reason = audit_reason("mod", MOD, "calm", case=intent.number)
    await gateway.timeout(guild_id, MEMBER, until=None, reason=reason)
    later = NOW + timedelta(days=3)
    mute = await record(database, guild_id, NewCase(
        Action.MUTE, MEMBER, MOD, NOW, reason="again", expires_at=later, state=CaseState.ACTIVE,
    ))  # fmt: skip
    gateway.members[MEMBER] = Membership(timed_out_until=later, role_ids=frozenset())
    clock.at = NOW + STALE_AFTER + timedelta(seconds=1)

    assert await services.settling.settle_stale() >= 1
    async with database.autocommit() as uow:
        unmute = await uow.cases.require(guild_id, intent.number)
        still = await uow.cases.require(guild_id, mute.number)
    assert (unmute.state, unmute.related_number) == (CaseState.CLOSED, None)
    assert still.state is CaseState.ACTIVE


async def test_a_ban_confirmed_late_behind_a_newer_ban_is_closed_as_superseded(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    intent = await left_pending(database, guild_id, Action.BAN)
    newer = await services.moderation.act(request(guild_id, Action.BAN))
    gateway.banned.add(MEMBER)
    clock.at = NOW + STALE_AFTER + timedelta(seconds=1)

    assert await services.settling.settle_stale() >= 1
    async with database.autocommit() as uow:
        late = await uow.cases.require(guild_id, intent.number)
        active = await uow.cases.active(guild_id, MEMBER, Action.BAN)
    assert (late.state, late.revoke_reason) == (
        CaseState.CLOSED,
        f"superseded by case #{newer.case.number}",
    )
    assert active is not None
    assert active.number == newer.case.number


async def test_start_up_re_mutes_members_who_came_back_unmuted_and_only_them(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    """A join the bot missed (it was down) is made up for at start-up: a mute in force
    that Discord no longer shows is imposed again; one it shows, or of a member who
    is not here, is left alone."""
    until = NOW + timedelta(days=2)
    back, muted, away = MEMBER, MEMBER + 1, MEMBER + 2
    for target in (back, muted, away):
        await record(database, guild_id, NewCase(
            Action.MUTE, target, MOD, NOW, reason="noise", expires_at=until,
            state=CaseState.ACTIVE,
        ))  # fmt: skip
    gateway.members[back] = Membership(timed_out_until=None, role_ids=frozenset())
    gateway.members[muted] = Membership(timed_out_until=until, role_ids=frozenset())

    checks = await services.reconcile.restore_mutes(guild_id)
    assert (checks[MuteCheck.REAPPLIED], checks[MuteCheck.IN_ORDER]) == (1, 2)
    [call] = [c for c in gateway.calls if c[0] == "timeout"]
    assert call[:3] == ("timeout", back, until)
    assert "re-applying the mute" in str(call[3])


async def test_a_mute_is_not_re_imposed_while_an_unmute_awaits_the_sweep(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    guild_id: int,
) -> None:
    """Found by the 1,000-action PostgreSQL soak: an /unmute done on Discord, the bot
    killed before confirming it; at the next start the mute, still in force in the
    log, was imposed again, and the sweep then confirmed the unmute: a timeout on
    Discord, no mute in the log. A mute with a pending unmute (or mute, or pardon) of
    its member is put off until the sweep has settled it."""
    until = NOW + timedelta(days=2)
    await record(database, guild_id, NewCase(
        Action.MUTE, MEMBER, MOD, NOW, reason="noise", expires_at=until, state=CaseState.ACTIVE,
    ))  # fmt: skip
    await left_pending(database, guild_id, Action.UNMUTE)
    gateway.members[MEMBER] = Membership(timed_out_until=None, role_ids=frozenset())

    checks = await services.reconcile.restore_mutes(guild_id)
    assert checks[MuteCheck.PUT_OFF] == 1
    assert await services.reconcile.member_joined(guild_id, MEMBER) is MuteCheck.PUT_OFF
    assert "timeout" not in gateway.names()
