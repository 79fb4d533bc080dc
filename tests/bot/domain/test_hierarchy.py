from __future__ import annotations

import pytest

from bot.domain.hierarchy import Participant, Permission, Refused, Scene, preflight
from bot.domain.lifecycle import Action

OWNER, ACTOR, BOT, TARGET = 1, 2, 3, 4
MOD_PERMS = Permission.BAN_MEMBERS | Permission.KICK_MEMBERS | Permission.MODERATE_MEMBERS

moderator = Participant(ACTOR, top_role_position=5, permissions=MOD_PERMS)
bot = Participant(BOT, top_role_position=10, permissions=MOD_PERMS)
member = Participant(TARGET, top_role_position=1, permissions=0)


def scene(
    *,
    actor: Participant = moderator,
    bot_member: Participant = bot,
    target: Participant | None = member,
    target_id: int = TARGET,
) -> Scene:
    return Scene(owner_id=OWNER, actor=actor, bot=bot_member, target_id=target_id, target=target)


@pytest.mark.parametrize("action", list(Action))
def test_a_moderator_may_act_on_a_lower_member(action: Action) -> None:
    preflight(action, scene())


@pytest.mark.parametrize(
    ("action", "changes", "message"),
    [
        (Action.BAN, {"target_id": ACTOR, "target": moderator}, "You can't ban yourself."),
        (Action.KICK, {"target_id": BOT, "target": bot}, "I won't kick myself."),
        (
            Action.MUTE,
            {"target_id": OWNER, "target": Participant(OWNER, 20, 0)},
            "You can't time out the server owner.",
        ),
        (
            Action.BAN,
            {"bot_member": Participant(BOT, 10, Permission.KICK_MEMBERS)},
            "I need the Ban Members permission to ban members.",
        ),
        (
            Action.MUTE,
            {"bot_member": Participant(BOT, 10, Permission.BAN_MEMBERS)},
            "I need the Timeout Members permission to time out members.",
        ),
        (
            Action.KICK,
            {"target": Participant(TARGET, 5, 0)},
            "You can only kick members whose highest role is below yours",
        ),
        (
            Action.WARN,
            {"target": Participant(TARGET, 7, 0)},
            "You can only warn members whose highest role is below yours",
        ),
        (
            Action.BAN,
            {"actor": Participant(ACTOR, 15, MOD_PERMS), "target": Participant(TARGET, 12, 0)},
            "My highest role must be above the member's highest role to ban them",
        ),
        (
            Action.MUTE,
            {"target": Participant(TARGET, 1, Permission.ADMINISTRATOR)},
            "Administrators can't be timed out",
        ),
    ],
)
def test_refusals_are_precise(action: Action, changes: dict[str, object], message: str) -> None:
    with pytest.raises(Refused) as refused:
        preflight(action, scene(**changes))  # type: ignore[arg-type]
    assert str(refused.value).startswith(message)


def test_the_owner_outranks_everyone_but_the_bot_must_still_outrank_the_target() -> None:
    owner = Participant(OWNER, 0, Permission.ADMINISTRATOR)  # owners hold every permission
    preflight(Action.KICK, scene(actor=owner, target=Participant(TARGET, 5, 0)))
    with pytest.raises(Refused, match="My highest role"):
        preflight(Action.KICK, scene(actor=owner, target=Participant(TARGET, 11, 0)))


def test_users_outside_the_guild_need_only_the_bot_permission() -> None:
    preflight(Action.BAN, scene(target=None))
    with pytest.raises(Refused, match="Ban Members"):
        preflight(Action.BAN, scene(target=None, bot_member=Participant(BOT, 10, 0)))


def test_administrator_grants_every_permission_to_the_bot() -> None:
    preflight(Action.BAN, scene(bot_member=Participant(BOT, 10, Permission.ADMINISTRATOR)))


def test_notes_and_warnings_need_no_bot_permission() -> None:
    no_permissions = Participant(BOT, 0, 0)
    preflight(Action.NOTE, scene(bot_member=no_permissions))
    preflight(Action.WARN, scene(bot_member=no_permissions))


def test_the_moderator_needs_the_permission_or_a_moderator_role() -> None:
    helper = Participant(ACTOR, 5, 0, role_ids=frozenset({77}))
    with pytest.raises(Refused, match="You need the Ban Members permission or a moderator role"):
        preflight(Action.BAN, scene(actor=helper))
    with pytest.raises(Refused, match="You need the Timeout Members permission"):
        preflight(Action.WARN, scene(actor=helper), moderator_roles=[78])
    preflight(Action.BAN, scene(actor=helper), moderator_roles=[77])
    preflight(Action.WARN, scene(actor=helper), moderator_roles={76, 77})
