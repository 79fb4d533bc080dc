"""Every command names what Lockdown asks of its user, and Discord's default visibility
agrees with it: a member Discord shows a command to passes the bot's own check
(the check that still stands when an admin shows the command to anyone)."""

from __future__ import annotations

import pytest

from bot.domain.access import (
    CHANGE_CASES,
    CONFIGURE,
    READ_CASES,
    READ_CHANGE_LOG,
    SEE_STATUS,
    Need,
    Participant,
    allows,
    moderate,
)
from bot.domain.lifecycle import Action
from tests.cogs.test_command_tree import AppCommand, tree

#: Each top-level command and the rule the bot applies (bot/domain/access.py). A new
#: command fails `test_every_command_names_what_it_needs` until it is listed here.
NEEDS: dict[str, Need] = {
    "ban": moderate(Action.BAN),
    "massban": moderate(Action.BAN),
    "unban": moderate(Action.UNBAN),
    "softban": moderate(Action.SOFTBAN),
    "kick": moderate(Action.KICK),
    "mute": moderate(Action.MUTE),
    "unmute": moderate(Action.UNMUTE),
    "warn": moderate(Action.WARN),
    "note": moderate(Action.NOTE),
    "warnings": READ_CASES,
    "history": READ_CASES,
    "case": READ_CASES,  # /case reason then needs the permission of the case's action
    "pardon": CHANGE_CASES,  # and then the permission of the case's action
    "config": CONFIGURE,
    "feature": CONFIGURE,
    "policy": CONFIGURE,
    "changes": READ_CHANGE_LOG,
    "status": SEE_STATUS,
}


def test_every_command_names_what_it_needs() -> None:
    assert sorted(command.name for _, command in tree()) == sorted(NEEDS)


@pytest.mark.parametrize(
    "command", [command for _, command in tree()], ids=lambda command: command.name
)
def test_discord_shows_a_command_only_to_members_the_bot_lets_through(
    command: AppCommand,
) -> None:
    name, shown_to = command.name, command.default_permissions
    assert command.guild_only, f"/{name} must be guild-only"
    assert shown_to is not None, f"/{name} must be hidden from members by default"
    need = NEEDS[name]
    assert allows(need, Participant(1, 0, shown_to.value)), (
        f"/{name} is shown to members with {shown_to}, whom the bot refuses"
    )
    assert not allows(need, Participant(1, 0, 0)), f"/{name} lets anyone through"
