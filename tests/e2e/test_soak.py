"""The soak of `bench.soak` at a size the suite affords, on both backends: moderation
actions while the bot is SIGKILLed and the database goes away, ending with Discord
and the case log in agreement for every member (see tests/e2e/soak_support.py).

The other tests replay, deterministically, what the soak found, each fixed since
(on SQLite only: it is the services' logic).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import make_url

from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import Case, NewCase
from bot.domain.reasons import audit_reason
from bot.services.acting import dm_text
from db.engine import Database
from tests.e2e.harness import BotProcess, preset_guild
from tests.e2e.soak_support import SoakPlan, TcpProxy, expire_leases, run_soak
from tests.emulator import DiscordEmulator, StandardGuild, User
from tests.helpers import record

#: 60 actions, five at a time, 3 SIGKILLs (one after a Discord call; one, then another
#: during the next start-up) and one outage: PostgreSQL refusing connections for 3-8 s,
#: or SQLite's write lock held for 17-22 s, past the bot's 15 s busy timeout. Dead
#: processes' leases are expired at each restart instead of waited out (90 s).
PLAN = SoakPlan(
    actions=60,
    seed=20261202,
    kills=2,
    outages=1,
    kill_modes=("after a Discord call", "during start-up"),
    warp_leases=True,
    reply_timeout=120,
    final_timeout=120,
)


async def test_moderation_through_kills_and_outages_ends_in_agreement(
    fresh_backend: str, own_emulator: DiscordEmulator, own_database_url: str
) -> None:
    result = await run_soak(own_emulator, fresh_backend, own_database_url, PLAN)
    report = "\n".join([result.table(), *result.stories])
    assert result.disagreements == [], report
    assert len(result.commands) == PLAN.actions, report
    assert sum(result.kills.values()) == 3, report
    assert len(result.outages) == 1, report
    assert result.outcomes["done"] >= 10, report  # it did act, through it all
    assert result.outcomes["refused: database unavailable"] >= 1, report  # the outage bit
    assert all(code in (None, 0) for code in result.exit_codes), report
    # A traceback the bot logs while the database is down is noise (reported); any
    # other is a bug.
    assert result.unexplained_tracebacks == [], report


def bot_for(emulator: DiscordEmulator, url: str, server: StandardGuild) -> BotProcess:
    return BotProcess(emulator, url, DEV_GUILD_IDS=str(server.guild.id), PENDING_SETTLE_SECONDS="2")


#: The scenarios below are the services' logic, the same on both backends: one is enough.
ON_SQLITE = pytest.mark.parametrize("fresh_backend", ["sqlite"])


class Precondition(Exception):
    """The scenario did not unfold as scripted (so an xfail would prove nothing)."""


async def caught_up(database: Database, server: StandardGuild, entry_id: int) -> None:
    """Until the start-up catch-up has read the audit log up to `entry_id`."""
    for _ in range(200):
        async with database.autocommit() as uow:
            cursor = await uow.guilds.audit_cursor(server.guild.id)
        if cursor is not None and cursor >= entry_id:
            return
        await asyncio.sleep(0.1)
    raise Precondition("the start-up catch-up never read the audit log")


async def cut_short(
    database: Database,
    server: StandardGuild,
    target: User,
    action: Action,
    reason: str,
    done_on_discord: Callable[[str], object],
) -> Case:
    """What an action cut short after Discord acted leaves: its pending case, and
    Discord's action (`done_on_discord(audit reason)`) by the bot, naming the case."""
    intent = await record(database, server.guild.id, NewCase(
        action, target.id, server.moderator.id, datetime.now(UTC),
        reason=reason, state=CaseState.PENDING,
    ))  # fmt: skip
    done_on_discord(
        audit_reason(server.moderator.username, server.moderator.id, reason, case=intent.number)
    )
    return intent


async def settled(database: Database, server: StandardGuild, number: int) -> Case:
    """The case once the sweep has settled it (as it stands after 10 s otherwise)."""
    for _ in range(100):
        async with database.autocommit() as uow:
            case = await uow.cases.require(server.guild.id, number)
        if case.state is not CaseState.PENDING:
            break
        await asyncio.sleep(0.1)
    return case


@ON_SQLITE
async def test_a_dm_whose_take_back_a_crash_cut_short_is_taken_back_after_the_restart(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    """Found by `python -m bench.soak --seed 21` (kill modes "after a DM", then "taking
    back a DM"), fixed in 5c56818: a ban's DM went out, the bot died before the ban;
    after the restart the sweep marked the case failed, then died while looking for the
    DM, which stayed for good. Now the DM goes first: the case stays pending until it
    is gone, and the next process settles it again."""
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    await preset_guild(own_database_url, database, server)
    # What a ban cut short after its DM leaves: a pending case and the DM naming it.
    intent = await record(database, server.guild.id, NewCase(
        Action.BAN, target.id, server.moderator.id, datetime.now(UTC) - timedelta(minutes=1),
        reason="spam", state=CaseState.PENDING,
    ))  # fmt: skip
    text = dm_text(Action.BAN, server.guild.name, "spam", None, None, number=intent.number)
    dm = emulator.messaging.create(
        emulator.world.dm_channel_with(target), emulator.world.bot.id, {"content": text}, []
    )
    emulator.add_latency(10, "GET", r"/channels/\d+/messages")  # the DM search is slow
    bot = await bot_for(emulator, own_database_url, server).start()
    await emulator.wait_until(
        lambda: emulator.calls("GET", rf"/channels/{dm.channel_id}/messages"),
        timeout=20,
        what="the sweep looking for the DM",
    )
    await bot.kill()  # while the sweep looks for the DM
    await expire_leases(database)  # as if the restart came after the dead lease ran out

    emulator.clear_faults()
    bot = await bot_for(emulator, own_database_url, server).start()
    await emulator.wait_until(lambda: dm.deleted, timeout=15, what="the DM taken back")
    case = await settled(database, server, intent.number)
    assert await bot.stop() == 0, bot.output
    assert case.state is CaseState.FAILED


@ON_SQLITE
async def test_a_ban_cut_short_then_lifted_is_not_confirmed_in_force_at_start_up(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    """Found by this module's soak (`python -m bench.soak --actions 60 --kills 2
    --outages 1 --seed 20261202 --kill-mode "after a Discord call" --kill-mode
    "during start-up" --warp-leases`, command 0 and 9): a /ban done on Discord, the bot
    killed before confirming it; restarted, an /unban of the same member ran (it ended
    nothing: the ban's case was pending) before the start-up catch-up read the audit log;
    the catch-up then confirmed the ban from its entry: an active ban case, no ban on
    Discord. Here the catch-up's audit-log read is slowed so the /unban comes first.
    Now the catch-up only links the entry to its case; the sweep settles the case from
    what Discord shows, under the member's lease (tests/bot/services/test_settling.py)."""
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    await preset_guild(own_database_url, database, server)
    # What a ban cut short after Discord acted leaves: Discord's ban, by the bot for the
    # moderator, and a pending case; then the bot starts again.
    intent = await cut_short(
        database, server, target, Action.BAN, "spam",
        lambda why: emulator.moderation.ban(server.guild.id, emulator.world.bot.id, target.id, why),
    )  # fmt: skip
    entry = emulator.audit_log(server.guild)[-1].id
    emulator.add_latency(3, "GET", r"/guilds/\d+/audit-logs")
    # A long settle time: the sweep stays out of it; the catch-up alone decides.
    bot = await BotProcess(
        emulator, own_database_url, DEV_GUILD_IDS=str(server.guild.id),
        PENDING_SETTLE_SECONDS="600",
    ).start()  # fmt: skip
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "unban", {"user": target}
    )
    reply = (await handle.wait_final(timeout=15)).content
    async with database.autocommit() as uow:
        ban = await uow.cases.require(server.guild.id, intent.number)
    if not reply.startswith("Unbanned") or ban.state is not CaseState.PENDING:
        raise Precondition(f"unban: {reply!r}; ban case {ban.state} before the catch-up")
    await caught_up(database, server, entry)
    assert await bot.stop() == 0, bot.output
    async with database.autocommit() as uow:
        active = await uow.cases.active(server.guild.id, target.id, Action.BAN)
        ban = await uow.cases.require(server.guild.id, intent.number)
    assert target.id not in emulator.bans(server.guild)
    assert active is None, f"active ban case #{active.number}, Discord shows no ban"
    assert (ban.state, ban.audit_log_entry_id) == (CaseState.PENDING, entry)  # for the sweep


@ON_SQLITE
async def test_a_ban_left_pending_then_lifted_is_not_back_in_force_after_a_restart(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    """Found by this module's soak (`python -m bench.soak ... --seed 20261202`, the
    SQLite outage: command 20's ban was "recorded later", its case pending, and undone
    by the follow-up /unban). A ban done on Discord whose case stayed pending (the bot
    died, or the database failed, before the confirmation), then an /unban before the
    sweep settled it: the sweep saw no ban and marked the ban failed; at the next start
    the catch-up read the bot's own ban entry, found no unfailed case for it and
    recorded the ban again, as active, although Discord shows no ban. Now the sweep
    finds the ban's own entry (it happened, then was lifted) and closes the case, and
    the catch-up never records an entry that names a case."""
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    await preset_guild(own_database_url, database, server)
    bot = await bot_for(emulator, own_database_url, server).start()
    # What a ban cut short after Discord acted leaves: Discord's ban, by the bot for the
    # moderator, and a pending case.
    intent = await cut_short(
        database, server, target, Action.BAN, "spam",
        lambda why: emulator.moderation.ban(server.guild.id, emulator.world.bot.id, target.id, why),
    )  # fmt: skip
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "unban", {"user": target}
    )
    reply = (await handle.wait_final(timeout=15)).content
    ban = await settled(database, server, intent.number)  # Discord shows no ban now
    if not reply.startswith("Unbanned"):
        raise Precondition(f"unban: {reply!r}")
    assert (ban.state, ban.revoke_reason) == (
        CaseState.CLOSED,
        "undone on Discord before it was confirmed",
    )
    assert await bot.stop() == 0, bot.output

    bot = await bot_for(emulator, own_database_url, server).start()
    await caught_up(database, server, emulator.audit_log(server.guild)[-1].id)
    assert await bot.stop() == 0, bot.output
    async with database.autocommit() as uow:
        active = await uow.cases.active(server.guild.id, target.id, Action.BAN)
    assert target.id not in emulator.bans(server.guild)
    assert active is None, f"active ban case #{active.number}, Discord shows no ban"


@ON_SQLITE
async def test_an_unmute_cut_short_does_not_end_a_newer_mute_at_start_up(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    """Found by `python -m bench.soak --actions 200 --kills 10 --outages 1 --seed 502
    --kill-mode "after a Discord call" --kill-mode "during start-up" --warp-leases
    --backend postgres` (commands 78 and 82): an /unmute done on Discord, the bot killed
    before confirming it; restarted, a /mute of the same member ran before the start-up
    catch-up read the audit log; the catch-up then confirmed the unmute, which ended the
    new mute: Discord times the member out for 3 days, the case log has no mute in
    force (and nothing will lift the timeout). Here the audit-log read is slowed. Now
    the catch-up leaves the unmute to the sweep, and a late confirmation ends only
    older cases."""
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    await preset_guild(own_database_url, database, server)
    # A mute in force, then what an unmute cut short after Discord acted leaves:
    # Discord's entry lifting the timeout, and a pending case.
    now = datetime.now(UTC)
    await record(database, server.guild.id, NewCase(
        Action.MUTE, target.id, server.moderator.id, now - timedelta(minutes=5),
        reason="noise", expires_at=now + timedelta(hours=1), state=CaseState.ACTIVE,
    ))  # fmt: skip
    server.guild.members[target.id].communication_disabled_until = now + timedelta(hours=1)
    intent = await cut_short(
        database, server, target, Action.UNMUTE, "calm",
        lambda why: emulator.moderation.timeout(
            server.guild.id, emulator.world.bot.id, target.id, None, why
        ),
    )  # fmt: skip
    entry = emulator.audit_log(server.guild)[-1].id
    emulator.add_latency(3, "GET", r"/guilds/\d+/audit-logs")
    bot = await BotProcess(
        emulator, own_database_url, DEV_GUILD_IDS=str(server.guild.id),
        PENDING_SETTLE_SECONDS="600",
    ).start()  # fmt: skip
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "mute",
        {"member": target, "duration": "3d"},
    )  # fmt: skip
    reply = (await handle.wait_final(timeout=15)).content
    async with database.autocommit() as uow:
        unmute = await uow.cases.require(server.guild.id, intent.number)
    if not reply.startswith("Timed out") or unmute.state is not CaseState.PENDING:
        raise Precondition(f"mute: {reply!r}; unmute case {unmute.state} before the catch-up")
    await caught_up(database, server, entry)
    assert await bot.stop() == 0, bot.output
    async with database.autocommit() as uow:
        active = await uow.cases.active(server.guild.id, target.id, Action.MUTE)
    assert emulator.timeout_until(server.guild, target) is not None
    assert active is not None, "Discord times them out for 3 days; no mute case in force"


@ON_SQLITE
async def test_a_muted_member_who_came_back_while_the_bot_was_down_is_muted_again(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    """Found by `python -m bench.soak --actions 200 --kills 10 --outages 1 --seed 502
    ...` (see above; lockdown-member44): muted for 3 days, kicked, and back while the bot
    was being restarted; the case log has the mute in force, Discord (the emulator, like
    Discord for the member's roles) has no timeout any more. A join seen live is handled
    (tests/e2e/test_reconciliation.py); one the bot missed was never made up for. Now
    each start-up re-applies the mutes in force that Discord does not show."""
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    await preset_guild(own_database_url, database, server)
    bot = await bot_for(emulator, own_database_url, server).start()
    for name, options in (
        ("mute", {"member": target, "duration": "3d"}),
        ("kick", {"member": target}),
    ):
        handle = await emulator.send_slash_command(
            server.guild, server.general, server.moderator, name, options
        )
        reply = (await handle.wait_final(timeout=15)).content
        if "case #" not in reply:
            raise Precondition(f"/{name}: {reply!r}")
    assert await bot.stop() == 0, bot.output
    await emulator.member_join(server.guild, target)  # while no bot runs

    bot = await bot_for(emulator, own_database_url, server).start()
    with contextlib.suppress(TimeoutError):
        await emulator.wait_until(
            lambda: emulator.timeout_until(server.guild, target), timeout=10, what="a re-mute"
        )
    assert await bot.stop() == 0, bot.output
    async with database.autocommit() as uow:
        mute = await uow.cases.active(server.guild.id, target.id, Action.MUTE)
    if mute is None:
        raise Precondition("the mute is not in force in the case log")
    assert emulator.timeout_until(server.guild, target) is not None, (
        f"mute case #{mute.number} is in force; Discord has no timeout"
    )


@ON_SQLITE
async def test_a_kick_cut_short_is_settled_from_its_own_entry_and_each_kick_recorded_once(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    """Found by `python -m bench.soak --actions 300 --seed 33 --warp-leases` (PostgreSQL,
    "command 255: 2 confirmed cases"), fixed in 909009b and 776da14: a kick done on
    Discord whose case stayed pending (killed after the Discord call); the member came
    back, so the sweep, seeing them present, marked that kick failed; a second /kick
    was done and recorded; at the next start the catch-up linked the first kick's entry
    to the second kick's case and recorded the second kick again. Now the entry names
    its case: the sweep finds the first kick in the audit log, and each entry is linked
    to its own case."""
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    await preset_guild(own_database_url, database, server)
    bot = await bot_for(emulator, own_database_url, server).start()
    # What a kick cut short after Discord acted leaves; then the member comes back.
    first = await cut_short(
        database, server, target, Action.KICK, "first",
        lambda why: emulator.moderation.kick(
            server.guild.id, emulator.world.bot.id, target.id, why
        ),
    )  # fmt: skip
    await emulator.member_join(server.guild, target)
    await settled(database, server, first.number)
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "kick",
        {"member": target, "reason": "second"},
    )  # fmt: skip
    assert (await handle.wait_final(timeout=15)).content.startswith("Kicked")
    assert await bot.stop() == 0, bot.output

    bot = await bot_for(emulator, own_database_url, server).start()
    await caught_up(database, server, emulator.audit_log(server.guild)[-1].id)
    assert await bot.stop() == 0, bot.output
    async with database.autocommit() as uow:
        cases = await uow.cases.history(server.guild.id, target.id, include_failed=True)
    entries = [e.id for e in emulator.audit_log(server.guild)]
    found = [(c.reason, c.state, c.audit_log_entry_id) for c in reversed(cases)]
    assert found == [
        ("first", CaseState.CLOSED, entries[0]),
        ("second", CaseState.CLOSED, entries[1]),
    ], found


@pytest.mark.parametrize("fresh_backend", ["postgres"])
async def test_a_return_missed_in_a_database_outage_is_re_muted_once_it_is_back(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    """Found by the 1,000-action soak (a join, and a start-up catch-up, failing with
    "database is locked" and never tried again while the process lived): a muted member
    comes back while the database is away; the bot catches the guild up again once it
    is back, and mutes them again."""
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    target = server.members[0]
    await preset_guild(own_database_url, database, server)
    url = make_url(own_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    bot = await bot_for(emulator, proxy.url(own_database_url), server).start()
    try:
        handle = await emulator.send_slash_command(
            server.guild, server.general, server.moderator, "mute",
            {"member": target, "duration": "3d"},
        )  # fmt: skip
        reply = (await handle.wait_final(timeout=15)).content
        if not reply.startswith("Timed out"):
            raise Precondition(f"/mute: {reply!r}")
        await emulator.member_leave(server.guild, target)
        await proxy.refuse()
        await emulator.member_join(server.guild, target)
        await bot.wait_for_log("a returning member's mute could not be checked yet", timeout=30)
        assert emulator.timeout_until(server.guild, target) is None  # not yet
        await proxy.resume()
        await emulator.wait_until(
            lambda: emulator.timeout_until(server.guild, target), timeout=60, what="a re-mute"
        )
        assert await bot.stop() == 0, bot.output
    finally:
        await bot.kill()
        await proxy.close()
    async with database.autocommit() as uow:
        mute = await uow.cases.active(server.guild.id, target.id, Action.MUTE)
    assert mute is not None
    entry = emulator.audit_log(server.guild)[-1]
    assert f"re-applying the mute of case #{mute.number}" in (entry.reason or "")


@pytest.mark.parametrize("fresh_backend", ["postgres"])
async def test_a_guild_joined_while_the_database_is_away_is_recorded_once_it_is_back(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    """A guild needs its row before any of its cases can be written; one that added the
    bot during an outage is recorded when the database is back, and moderated then."""
    emulator, database = own_emulator, own_database
    server = emulator.world.build_standard_guild()
    await preset_guild(own_database_url, database, server)
    url = make_url(own_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    bot = BotProcess(  # commands synced globally: they reach the guild that comes later
        emulator, proxy.url(own_database_url), PENDING_SETTLE_SECONDS="2"
    )
    await bot.start()
    try:
        late = emulator.world.build_standard_guild("Late Server")
        await proxy.refuse()
        await emulator.bot_added(late.guild)
        await bot.wait_for_log(f"guild {late.guild.id} waits for the database", timeout=30)
        await proxy.resume()
        reply = ""
        for _ in range(40):  # until the guild is recorded (tried again every 15 s)
            handle = await emulator.send_slash_command(
                late.guild, late.general, late.moderator, "warn",
                {"member": late.members[0], "reason": "welcome"},
            )  # fmt: skip
            reply = (await handle.wait_final(timeout=15)).content
            if reply.startswith("Warned"):
                break
            await asyncio.sleep(1)
        assert reply.startswith("Warned"), reply
        assert await bot.stop() == 0, bot.output
    finally:
        await bot.kill()
        await proxy.close()
    async with database.autocommit() as uow:
        [warning] = await uow.cases.all(late.guild.id)
    assert (warning.type, warning.reason) == (Action.WARN, "welcome")
