"""The one table of what each action means holds together."""

from __future__ import annotations

import pytest

from bot.domain.lifecycle import (
    KINDS,
    TRANSITIONS,
    Action,
    CaseState,
    DiscordEntry,
    possible_sources,
    recorded_from_discord,
)
from bot.domain.permissions import Permission


def test_every_action_has_one_kind() -> None:
    assert set(KINDS) == set(Action)
    assert all(kind.action is action for action, kind in KINDS.items())


def test_what_ends_a_case_ends_one_that_stays_in_force() -> None:
    for kind in KINDS.values():
        if kind.ends is not None:
            assert kind.ends.kind.one_per_member, kind.action
        if kind.closed_by is not None:
            assert kind.closed_by.kind.ends is kind.action, kind.action
            assert kind.stays_active


def test_only_cases_that_stay_in_force_can_be_one_per_member() -> None:
    assert {k.action for k in KINDS.values() if k.one_per_member} == {Action.BAN, Action.MUTE}
    assert all(k.stays_active for k in KINDS.values() if k.one_per_member)
    assert Action.WARN.kind.stays_active
    assert not Action.WARN.kind.one_per_member


@pytest.mark.parametrize(
    ("action", "confirmed"),
    [
        (Action.BAN, CaseState.ACTIVE),
        (Action.MUTE, CaseState.ACTIVE),
        (Action.WARN, CaseState.ACTIVE),
        (Action.KICK, CaseState.CLOSED),
        (Action.UNBAN, CaseState.CLOSED),
        (Action.NOTE, CaseState.CLOSED),
        (Action.PARDON, CaseState.CLOSED),
    ],
)
def test_a_confirmed_case_is_active_only_if_it_stays_in_force(
    action: Action, confirmed: CaseState
) -> None:
    assert action.kind.confirmed_state is confirmed


def test_a_case_leaves_pending_once_and_never_comes_back() -> None:
    assert TRANSITIONS[CaseState.PENDING] == {
        CaseState.ACTIVE,
        CaseState.CLOSED,
        CaseState.FAILED,
    }
    assert TRANSITIONS[CaseState.ACTIVE] == {CaseState.CLOSED}
    assert not TRANSITIONS[CaseState.CLOSED]
    assert not TRANSITIONS[CaseState.FAILED]
    assert not any(CaseState.PENDING in after for after in TRANSITIONS.values())


def test_discord_entries_map_to_cases_and_back() -> None:
    assert recorded_from_discord(DiscordEntry.TIMEOUT).action is Action.MUTE
    assert recorded_from_discord(DiscordEntry.UNBAN).action is Action.UNBAN
    assert set(possible_sources(DiscordEntry.BAN)) == {Action.BAN, Action.SOFTBAN}
    assert set(possible_sources(DiscordEntry.UNBAN)) == {
        Action.UNBAN,
        Action.SOFTBAN,
        Action.PARDON,
    }
    for entry in DiscordEntry:
        if entry is DiscordEntry.ROLES:  # the mute role given or taken: never a case itself
            assert possible_sources(entry) == (Action.MUTE, Action.UNMUTE, Action.PARDON)
            continue
        kind = recorded_from_discord(entry)
        assert kind.action in possible_sources(entry)  # a person's entry is one the bot makes too


def test_the_bot_needs_what_it_acts_with_and_moderators_need_at_least_that() -> None:
    for kind in KINDS.values():
        if kind.bot_needs is not None:
            assert kind.actor_needs == kind.bot_needs
        assert kind.actor_needs in (
            Permission.BAN_MEMBERS,
            Permission.KICK_MEMBERS,
            Permission.MODERATE_MEMBERS,
        )


def test_members_are_told_only_about_what_is_done_to_them() -> None:
    told = {k.action for k in KINDS.values() if k.dm_setting is not None}
    assert told == {Action.BAN, Action.SOFTBAN, Action.KICK, Action.MUTE, Action.WARN}
    assert {k.action for k in KINDS.values() if k.dm_first} == {
        Action.BAN,
        Action.SOFTBAN,
        Action.KICK,
    }
    assert all(k.dm_phrase for k in KINDS.values() if k.dm_setting)
    assert all(k.past_tense and k.verb for k in KINDS.values())
