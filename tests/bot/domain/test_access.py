"""The one rule of who may do what: every kind of access against every kind of person."""

from __future__ import annotations

import pytest

from bot.domain.access import (
    CHANGE_CASES,
    CONFIGURE,
    MODERATION,
    READ_CASES,
    READ_CHANGE_LOG,
    SEE_CONFIGURATION,
    SEE_STATUS,
    Need,
    NotAllowed,
    Participant,
    Refused,
    allows,
    change_case,
    moderate,
    require,
)
from bot.domain.errors import LockdownError
from bot.domain.lifecycle import KINDS, Action
from bot.domain.permissions import Permission

MOD_ROLE, OTHER_ROLE = 500, 501
ROLES = (MOD_ROLE,)

BAN, KICK, TIMEOUT = (
    Permission.BAN_MEMBERS,
    Permission.KICK_MEMBERS,
    Permission.MODERATE_MEMBERS,
)


def person(permissions: int = 0, *roles: int) -> Participant:
    return Participant(7, top_role_position=1, permissions=permissions, role_ids=frozenset(roles))


NOBODY = person()
BANNER, KICKER, TIMEOUTER = person(BAN), person(KICK), person(TIMEOUT)
MODERATOR = person(BAN | KICK | TIMEOUT)
MANAGER = person(Permission.MANAGE_GUILD)
ADMIN = person(Permission.ADMINISTRATOR)
ROLE_HOLDER = person(0, MOD_ROLE)
OTHER_ROLE_HOLDER = person(0, OTHER_ROLE)

MANAGER_ONLY = (CONFIGURE, SEE_CONFIGURATION, READ_CHANGE_LOG, SEE_STATUS)

#: (need, who, allowed): the table the issue states, row by row.
CASES: list[tuple[Need, Participant, bool]] = [
    # Manage Server for /config, /feature, /policy, /changes and /status; nothing else does.
    *[(need, MANAGER, True) for need in MANAGER_ONLY],
    *[(need, ADMIN, True) for need in MANAGER_ONLY],
    *[(need, MODERATOR, False) for need in MANAGER_ONLY],
    *[(need, ROLE_HOLDER, False) for need in MANAGER_ONLY],
    *[(need, NOBODY, False) for need in MANAGER_ONLY],
    # Reading cases: any moderation permission, or a moderator role.
    (READ_CASES, BANNER, True),
    (READ_CASES, KICKER, True),
    (READ_CASES, TIMEOUTER, True),
    (READ_CASES, ROLE_HOLDER, True),
    (READ_CASES, ADMIN, True),
    (READ_CASES, MANAGER, False),
    (READ_CASES, OTHER_ROLE_HOLDER, False),
    (READ_CASES, NOBODY, False),
    (CHANGE_CASES, KICKER, True),
    (CHANGE_CASES, NOBODY, False),
    # Changing a case: the permission of the action it records, or a moderator role.
    (change_case(Action.BAN), BANNER, True),
    (change_case(Action.BAN), KICKER, False),
    (change_case(Action.BAN), TIMEOUTER, False),
    (change_case(Action.BAN), ROLE_HOLDER, True),
    (change_case(Action.BAN), ADMIN, True),
    (change_case(Action.UNBAN), BANNER, True),
    (change_case(Action.SOFTBAN), KICKER, False),
    (change_case(Action.KICK), KICKER, True),
    (change_case(Action.KICK), TIMEOUTER, False),
    (change_case(Action.MUTE), TIMEOUTER, True),
    (change_case(Action.MUTE), BANNER, False),
    (change_case(Action.WARN), TIMEOUTER, True),
    (change_case(Action.WARN), KICKER, False),
    (change_case(Action.NOTE), TIMEOUTER, True),
    (change_case(Action.WARN), OTHER_ROLE_HOLDER, False),
    # Moderating: the action's permission, or a moderator role.
    (moderate(Action.BAN), BANNER, True),
    (moderate(Action.BAN), KICKER, False),
    (moderate(Action.KICK), KICKER, True),
    (moderate(Action.WARN), TIMEOUTER, True),
    (moderate(Action.WARN), ROLE_HOLDER, True),
    (moderate(Action.MUTE), MANAGER, False),
]


@pytest.mark.parametrize(("need", "who", "allowed"), CASES)
def test_the_rule(need: Need, who: Participant, allowed: bool) -> None:
    assert allows(need, who, ROLES) is allowed
    if allowed:
        require(need, who, ROLES)
    else:
        with pytest.raises(NotAllowed) as refused:
            require(need, who, ROLES)
        assert refused.value.need == need


def test_a_moderator_role_counts_only_when_the_guild_names_it() -> None:
    assert not allows(READ_CASES, ROLE_HOLDER, ())
    assert allows(READ_CASES, ROLE_HOLDER, [OTHER_ROLE, MOD_ROLE])


@pytest.mark.parametrize(
    ("need", "message"),
    [
        (CONFIGURE, "You need the Manage Server permission to change Lockdown's configuration."),
        (
            SEE_CONFIGURATION,
            "You need the Manage Server permission to see Lockdown's configuration.",
        ),
        (READ_CHANGE_LOG, "You need the Manage Server permission to read Lockdown's change log."),
        (SEE_STATUS, "You need the Manage Server permission to see Lockdown's status."),
        (
            READ_CASES,
            "You need the Ban Members, Kick Members or Timeout Members permission "
            "or a moderator role to read cases.",
        ),
        (
            change_case(Action.BAN, "pardon"),
            "You need the Ban Members permission or a moderator role to pardon a ban case.",
        ),
        (
            change_case(Action.KICK, "change the reason of"),
            "You need the Kick Members permission or a moderator role "
            "to change the reason of a kick case.",
        ),
        (
            moderate(Action.MUTE),
            "You need the Timeout Members permission or a moderator role to time out members.",
        ),
    ],
)
def test_refusals_say_what_is_missing(need: Need, message: str) -> None:
    with pytest.raises(NotAllowed) as refused:
        require(need, NOBODY, ROLES)
    assert str(refused.value) == message
    assert isinstance(refused.value, Refused)
    assert isinstance(refused.value, LockdownError)  # one handler turns it into a reply


def test_any_moderation_permission_is_every_permission_an_action_needs() -> None:
    """Taken from the lifecycle table, not copied: a new kind of action joins by itself."""
    assert MODERATION == BAN | KICK | TIMEOUT
    for kind in KINDS.values():
        assert change_case(kind.action).permissions == kind.actor_needs
        assert moderate(kind.action).permissions == kind.actor_needs
