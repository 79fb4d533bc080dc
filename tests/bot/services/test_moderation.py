"""The moderation service on both backends, with Discord replaced at the edge."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.hierarchy import Participant, Refused, Scene
from bot.domain.lifecycle import Action
from bot.domain.ports import DiscordFailure
from bot.services.acting import ActionFailed, TooManyActions
from bot.services.config import ConfigService
from bot.services.container import Services
from bot.services.enforcement import MAX_TIMEOUT
from bot.services.pardon import NothingToUndo
from db.engine import Database
from tests.bot.services.edge import (
    BOT,
    MANAGER,
    MEMBER,
    MOD,
    MODERATOR,
    MODLOG,
    NOW,
    OWNER,
    PERMS,
    RecordingGateway,
    request,
)


async def test_ban_tells_the_member_first_then_bans_records_and_announces(
    services: Services, config: ConfigService, gateway: RecordingGateway, guild_id: int
) -> None:
    await config.set(guild_id, "modlog_channel_id", MODLOG, actor=MANAGER)
    outcome = await services.moderation.act(
        request(guild_id, Action.BAN, duration=timedelta(days=2), delete_message_seconds=3600)
    )

    assert gateway.names() == ["dm", "ban", "modlog"]
    assert gateway.calls[1] == ("ban", MEMBER, "mod (20) case #1: spam", 3600)
    assert "banned from **Test Guild**" in str(gateway.calls[0][2])
    case = outcome.case
    assert (case.type, case.active, case.expires_at) == (
        Action.BAN,
        True,
        NOW + timedelta(days=2),
    )
    assert (outcome.dm_delivered, outcome.modlog_posted, case.dm_delivered) == (True, True, True)
    assert gateway.calls[2] == ("modlog", MODLOG, case.number, Action.BAN)


async def test_banning_a_banned_user_updates_the_ban(services: Services, guild_id: int) -> None:
    first = await services.moderation.act(
        request(guild_id, Action.BAN, duration=timedelta(hours=1))
    )
    second = await services.moderation.act(request(guild_id, Action.BAN, reason="for good"))

    assert second.replaced is not None
    assert second.replaced.number == first.case.number
    assert not second.replaced.active
    assert second.case.related_number == first.case.number
    assert (second.case.active, second.case.expires_at) == (True, None)


async def test_a_refused_check_makes_no_discord_request(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    higher = Scene(
        OWNER, Participant(MOD, 5, PERMS), Participant(BOT, 10, PERMS), 40, Participant(40, 7, 0)
    )
    with pytest.raises(Refused, match="highest role is below yours"):
        await services.moderation.act(request(guild_id, Action.KICK, scene=higher))
    assert gateway.calls == []


async def test_discord_refusing_records_nothing(
    services: Services, database: Database, gateway: RecordingGateway, guild_id: int
) -> None:
    gateway.failures["kick"] = DiscordFailure(403, 50013, "Missing Permissions")
    with pytest.raises(ActionFailed, match="Discord refused to kick them"):
        await services.moderation.act(request(guild_id, Action.KICK))
    async with database.autocommit() as uow:
        assert await uow.cases.history(guild_id, MEMBER) == []


async def test_a_closed_dm_never_blocks_the_action(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    gateway.dm_open = False
    outcome = await services.moderation.act(request(guild_id, Action.KICK))
    assert gateway.names() == ["dm", "kick"]
    assert outcome.dm_delivered is False
    assert outcome.case.dm_delivered is False


async def test_long_mutes_are_capped_below_discords_limit(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    outcome = await services.moderation.act(
        request(guild_id, Action.MUTE, duration=timedelta(days=60))
    )
    name, user, until, _ = gateway.calls[0]
    assert (name, user, until) == ("timeout", MEMBER, NOW + MAX_TIMEOUT)
    assert until < NOW + timedelta(days=28)  # type: ignore[operator]
    assert gateway.names() == ["timeout", "dm"]  # told after the timeout took
    assert outcome.case.expires_at == NOW + timedelta(days=60)


async def test_warnings_and_notes(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    warned = await services.moderation.act(request(guild_id, Action.WARN))
    noted = await services.moderation.act(request(guild_id, Action.NOTE, reason="watch them"))
    assert gateway.names() == ["dm"]  # the note is moderator-only
    assert (warned.case.type, warned.case.active) == (Action.WARN, True)
    assert (noted.case.type, noted.case.active, noted.dm_delivered) == (Action.NOTE, False, None)
    active = await services.cases.active_warnings(guild_id, MEMBER, actor=MODERATOR)
    assert [c.number for c in active] == [1]


async def test_unban_ends_the_active_ban(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    ban = await services.moderation.act(request(guild_id, Action.BAN))
    unban = await services.moderation.act(
        request(
            guild_id,
            Action.UNBAN,
            scene=Scene(
                OWNER, Participant(MOD, 5, PERMS), Participant(BOT, 10, PERMS), MEMBER, None
            ),
        )
    )
    assert unban.replaced is not None
    assert unban.replaced.number == ban.case.number
    assert (unban.case.type, unban.case.related_number) == (Action.UNBAN, ban.case.number)
    assert not (await services.cases.case(guild_id, ban.case.number, actor=MODERATOR)).active


async def test_pardon_revokes_a_warning_and_is_audited(
    services: Services, database: Database, gateway: RecordingGateway, guild_id: int
) -> None:
    warned = await services.moderation.act(request(guild_id, Action.WARN))
    outcome = await services.pardons.pardon(
        guild_id,
        warned.case.number,
        actor=MODERATOR,
        actor_name="mod",
        reason="appealed",
    )
    assert (outcome.case.type, outcome.case.related_number) == (Action.PARDON, 1)
    revoked = await services.cases.case(guild_id, 1, actor=MODERATOR)
    assert (revoked.active, revoked.revoked_by, revoked.revoke_reason) == (False, MOD, "appealed")
    assert await services.cases.active_warnings(guild_id, MEMBER, actor=MODERATOR) == []
    with pytest.raises(NothingToUndo):
        await services.pardons.pardon(guild_id, 1, actor=MODERATOR, actor_name="mod", reason=None)
    async with database.autocommit() as uow:
        entry = (await uow.changes.recent(guild_id, limit=1))[0]
    assert (entry.action, entry.entity_id, entry.before) == ("case.pardon", "1", {"active": True})
    assert entry.after == {"active": False, "pardon_case": 2}


async def test_pardoning_a_ban_lifts_it_on_discord(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    ban = await services.moderation.act(request(guild_id, Action.BAN, duration=timedelta(days=1)))
    await services.pardons.pardon(
        guild_id, ban.case.number, actor=MODERATOR, actor_name="mod", reason=None
    )
    assert gateway.names()[-1] == "unban"


async def test_edit_reason_keeps_the_old_one_in_the_audit_trail(
    services: Services, database: Database, guild_id: int
) -> None:
    warned = await services.moderation.act(request(guild_id, Action.WARN, reason="old"))
    edited = await services.cases.edit_reason(guild_id, warned.case.number, "new", actor=MODERATOR)
    assert edited.reason == "new"
    async with database.autocommit() as uow:
        entry = (await uow.changes.recent(guild_id, limit=1))[0]
    assert (entry.before, entry.after, entry.actor_id) == (
        {"reason": "old"},
        {"reason": "new"},
        MOD,
    )


async def test_bad_input_is_refused_before_anything_happens(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    with pytest.raises(ActionFailed, match="up to 7 days"):
        await services.moderation.act(
            request(guild_id, Action.BAN, delete_message_seconds=8 * 86_400)
        )
    with pytest.raises(Exception, match="the most is 1,000"):
        await services.moderation.act(request(guild_id, Action.WARN, reason="x" * 1001))
    assert gateway.calls == []


async def test_with_a_mute_role_long_mutes_wear_the_role_instead(
    services: Services, config: ConfigService, gateway: RecordingGateway, guild_id: int
) -> None:
    await config.set(guild_id, "mute_role_id", 777, actor=MANAGER)
    long = await services.moderation.act(
        request(guild_id, Action.MUTE, duration=timedelta(days=60))
    )
    assert gateway.calls[0][:3] == ("add_role", MEMBER, 777)
    assert long.case.renew_at is None  # a role needs no renewal
    await services.moderation.act(request(guild_id, Action.UNMUTE))
    assert [c[0] for c in gateway.calls[-2:]] == ["timeout", "remove_role"]

    gateway.calls.clear()
    await services.moderation.act(request(guild_id, Action.MUTE, duration=timedelta(hours=1)))
    assert gateway.calls[0][0] == "timeout"  # short mutes stay native timeouts


async def test_anti_nuke_refuses_a_moderator_past_the_limit_and_alerts(
    services: Services,
    config: ConfigService,
    database: Database,
    gateway: RecordingGateway,
    guild_id: int,
) -> None:
    await config.set(guild_id, "modlog_channel_id", MODLOG, actor=MANAGER)
    await config.set(guild_id, "antinuke_actions", 2, actor=MANAGER)
    await services.moderation.act(request(guild_id, Action.KICK))
    await services.moderation.act(request(guild_id, Action.BAN))
    await services.moderation.act(request(guild_id, Action.WARN))  # warnings are not counted
    gateway.calls.clear()

    with pytest.raises(TooManyActions, match="limit of 2 bans and kicks in 10m; try again in"):
        await services.moderation.act(request(guild_id, Action.KICK))

    assert [c[0] for c in gateway.calls] == ["alert"]  # nothing reached Discord but the alert
    assert "Anti-nuke: mod (`20`) tried a kick" in str(gateway.calls[0][2])
    async with database.autocommit() as uow:
        entry = (await uow.changes.recent(guild_id, limit=1))[0]
    assert (entry.action, entry.actor_id, entry.after) == (
        "antinuke.refused", MOD, {"action": "kick", "limit": 2},
    )  # fmt: skip
