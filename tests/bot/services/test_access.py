"""Every service that acts for a person checks the one access rule itself, on both
backends: whatever door a request comes through (a command Discord was told to
show to anyone, a button, the command line), the answer is the same."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.access import NotAllowed, Participant
from bot.domain.config import DEFAULT_CONFIG
from bot.domain.errors import CaseNotFound
from bot.domain.lifecycle import Action
from bot.domain.models import Change
from bot.domain.permissions import Permission
from bot.services.container import Services
from bot.services.massban import MassBanRequest
from bot.services.pardon import NothingToUndo
from db.engine import Database
from tests.bot.services.edge import (
    BOT,
    MANAGER,
    MEMBER,
    MOD,
    MODERATOR,
    OWNER,
    PERMS,
    RecordingGateway,
    request,
)

MOD_ROLE = 909
NOBODY = Participant(71, 1, 0)
KICKER = Participant(72, 1, Permission.KICK_MEMBERS)
TIMEOUTER = Participant(73, 1, Permission.MODERATE_MEMBERS)
BANNER = Participant(74, 1, Permission.BAN_MEMBERS)
ROLE_HOLDER = Participant(75, 1, 0, frozenset({MOD_ROLE}))
ADMIN = Participant(76, 1, Permission.ADMINISTRATOR)
MANAGES_ONLY = Participant(77, 1, Permission.MANAGE_GUILD)

NO_MANAGE = "You need the Manage Server permission to change Lockdown's configuration."


async def changes(database: Database, guild_id: int) -> list[Change]:
    async with database.autocommit() as uow:
        return await uow.changes.recent(guild_id, limit=25)


async def test_configuration_is_refused_without_manage_server_and_the_attempt_logged(
    services: Services, database: Database, guild_id: int
) -> None:
    config = services.config
    with pytest.raises(NotAllowed, match=NO_MANAGE):
        await config.set(guild_id, "moderator_role_ids", [MOD_ROLE], actor=MODERATOR)
    with pytest.raises(NotAllowed, match=NO_MANAGE):
        await config.reset(guild_id, actor=MODERATOR)
    with pytest.raises(NotAllowed, match=NO_MANAGE):
        await config.set_feature(guild_id, "escalation", False, actor=ROLE_HOLDER)
    with pytest.raises(NotAllowed, match="to see Lockdown's configuration"):
        await config.read(guild_id, actor=MODERATOR)

    assert await config.get(guild_id) == DEFAULT_CONFIG  # nothing changed
    entries = await changes(database, guild_id)
    assert [(e.action, e.actor_id, e.entity, e.entity_id) for e in entries] == [
        ("config.refused", ROLE_HOLDER.id, "feature", "escalation"),
        ("config.refused", MODERATOR.id, "setting", "*"),
        ("config.refused", MODERATOR.id, "setting", "moderator_role_ids"),
    ]
    assert all(e.before is None and e.after == {"reason": NO_MANAGE} for e in entries)


async def test_server_managers_and_admins_configure(
    services: Services, database: Database, guild_id: int
) -> None:
    await services.config.set(guild_id, "appeal_text", "mail us", actor=MANAGER)
    await services.config.set_feature(guild_id, "escalation", False, actor=ADMIN)
    shown = await services.config.read(guild_id, actor=ADMIN)
    assert (shown.appeal_text, shown.enabled("escalation")) == ("mail us", False)
    assert [e.action for e in await changes(database, guild_id)] == ["feature.set", "config.set"]


async def test_a_policy_is_refused_without_manage_server_and_the_attempt_logged(
    services: Services, database: Database, guild_id: int
) -> None:
    """The issue's case: a ban after one warning, added by a moderator."""
    policies = services.policies
    with pytest.raises(NotAllowed, match=NO_MANAGE):
        await policies.add(
            guild_id, threshold=1, action=Action.BAN, duration=None, window=None, actor=MODERATOR
        )
    assert await policies.list(guild_id, actor=MANAGER) == []
    [entry] = await changes(database, guild_id)
    assert (entry.action, entry.actor_id, entry.entity, entry.entity_id) == (
        "config.refused",
        MODERATOR.id,
        "policy",
        "new",
    )
    assert entry.after == {"reason": NO_MANAGE, "threshold": 1, "action": "ban"}

    added = await policies.add(
        guild_id, threshold=3, action=Action.KICK, duration=None, window=None, actor=MANAGER
    )
    with pytest.raises(NotAllowed, match=NO_MANAGE):
        await policies.remove(guild_id, added.id, actor=ROLE_HOLDER)
    with pytest.raises(NotAllowed, match="to see Lockdown's configuration"):
        await policies.list(guild_id, actor=MODERATOR)
    assert await policies.list(guild_id, actor=ADMIN) == [added]
    newest = (await changes(database, guild_id))[0]
    assert (newest.action, newest.entity, newest.entity_id) == (
        "config.refused",
        "policy",
        str(added.id),
    )


async def test_the_change_log_is_for_server_managers(services: Services, guild_id: int) -> None:
    with pytest.raises(NotAllowed, match="to read Lockdown's change log"):
        await services.changes.recent(guild_id, actor=MODERATOR)
    assert await services.changes.recent(guild_id, actor=MANAGER) == []


async def test_reading_cases_needs_a_moderation_permission_or_a_moderator_role(
    services: Services, guild_id: int
) -> None:
    warned = await services.moderation.act(request(guild_id, Action.WARN))
    number = warned.case.number
    for reader in (KICKER, TIMEOUTER, BANNER, ADMIN):
        assert (await services.cases.case(guild_id, number, actor=reader)).number == number
        assert (await services.cases.history(guild_id, MEMBER, actor=reader))[1] == 1
        assert len(await services.cases.active_warnings(guild_id, MEMBER, actor=reader)) == 1

    for outsider in (NOBODY, ROLE_HOLDER, MANAGES_ONLY):
        with pytest.raises(NotAllowed, match="or a moderator role to read cases"):
            await services.cases.case(guild_id, number, actor=outsider)
        with pytest.raises(NotAllowed):
            await services.cases.history(guild_id, MEMBER, actor=outsider)
        with pytest.raises(NotAllowed):
            await services.cases.active_warnings(guild_id, MEMBER, actor=outsider)
    with pytest.raises(NotAllowed):  # not "case #999 does not exist": nothing is told
        await services.cases.case(guild_id, 999, actor=NOBODY)

    await services.config.set(guild_id, "moderator_role_ids", [MOD_ROLE], actor=MANAGER)
    assert (await services.cases.case(guild_id, number, actor=ROLE_HOLDER)).number == number
    with pytest.raises(CaseNotFound):
        await services.cases.case(guild_id, 999, actor=ROLE_HOLDER)


async def test_changing_a_case_needs_the_permission_of_its_action(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    """With only Timeout Members a member may pardon a warning or a mute, not a ban;
    with only Kick Members none of them; a moderator role may pardon them all."""
    pardon = services.pardons.pardon
    warned = await services.moderation.act(request(guild_id, Action.WARN))
    muted = await services.moderation.act(
        request(guild_id, Action.MUTE, duration=timedelta(hours=1))
    )
    banned = await services.moderation.act(request(guild_id, Action.BAN))
    kicked = await services.moderation.act(request(guild_id, Action.KICK))
    calls = len(gateway.calls)

    for case in (warned, muted, banned):
        with pytest.raises(
            NotAllowed,
            match=f"need the .* permission or a moderator role to pardon a {case.case.type} case",
        ):
            await pardon(guild_id, case.case.number, actor=KICKER, actor_name="kicker", reason=None)
    with pytest.raises(
        NotAllowed, match="need the Ban Members permission or a moderator role to pardon a ban"
    ):
        await pardon(
            guild_id, banned.case.number, actor=TIMEOUTER, actor_name="timeout", reason=None
        )
    with pytest.raises(NotAllowed, match="or a moderator role to change cases"):
        await pardon(guild_id, 999, actor=NOBODY, actor_name="nobody", reason=None)
    assert len(gateway.calls) == calls  # Discord was not asked to lift anything

    for case in (warned, muted):
        await pardon(guild_id, case.case.number, actor=TIMEOUTER, actor_name="timeout", reason=None)
    with pytest.raises(NotAllowed):  # a role the guild does not name yet
        await pardon(
            guild_id, banned.case.number, actor=ROLE_HOLDER, actor_name="helper", reason=None
        )
    await services.config.set(guild_id, "moderator_role_ids", [MOD_ROLE], actor=MANAGER)
    await pardon(guild_id, banned.case.number, actor=ROLE_HOLDER, actor_name="helper", reason=None)
    assert gateway.names()[calls:].count("unban") == 1
    with pytest.raises(NothingToUndo):  # allowed, and told the kick is not in force
        await pardon(guild_id, kicked.case.number, actor=KICKER, actor_name="k", reason=None)

    edit = services.cases.edit_reason
    with pytest.raises(
        NotAllowed, match="Kick Members permission or a moderator role to change the reason"
    ):
        await edit(guild_id, kicked.case.number, "new", actor=TIMEOUTER)
    with pytest.raises(NotAllowed, match="Ban Members permission"):
        await edit(guild_id, banned.case.number, "new", actor=KICKER)
    with pytest.raises(NotAllowed, match="to change cases"):
        await edit(guild_id, 999, "new", actor=NOBODY)
    assert (await edit(guild_id, kicked.case.number, "new", actor=KICKER)).reason == "new"
    assert (await edit(guild_id, banned.case.number, "new", actor=ROLE_HOLDER)).reason == "new"
    assert (await edit(guild_id, warned.case.number, "new", actor=ADMIN)).reason == "new"


async def test_a_member_who_may_not_ban_is_refused_a_mass_ban_before_the_prompt(
    services: Services, guild_id: int
) -> None:
    kicker = Participant(MOD, 5, Permission.KICK_MEMBERS)
    request = MassBanRequest(
        guild_id=guild_id, guild_name="g", owner_id=OWNER, actor=kicker, actor_name="kicker",
        bot=Participant(BOT, 10, PERMS), targets={MEMBER: None},
    )  # fmt: skip
    with pytest.raises(NotAllowed, match="Ban Members permission or a moderator role"):
        await services.massban.check(request)
