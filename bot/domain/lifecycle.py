"""What each kind of moderation action means, and the states its case moves through.

This is the one table of that knowledge: services, the timer loop,
reconciliation, the pre-flight check and the replies all ask it, so a new
kind of action (or a change to one) is made here and nowhere else.

A case is recorded for every action. Its life:

    pending --(Discord confirmed)--> active --(expired, pardoned, replaced)--> closed
        |                     \\----> closed   (an action that does not stay in force)
        \\--(Discord refused)--> failed

A pending case has its number but is not in force: it is not shown as active
and escalation does not count it. A failed case keeps its number, so the
numbering stays gap-free and auditable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.domain.permissions import Permission


class Action(enum.StrEnum):
    """A kind of moderation action; a case records one, so it is also the case's type."""

    BAN = "ban"
    UNBAN = "unban"
    SOFTBAN = "softban"
    KICK = "kick"
    MUTE = "mute"
    UNMUTE = "unmute"
    WARN = "warn"
    PARDON = "pardon"
    NOTE = "note"

    @property
    def kind(self) -> ActionKind:
        return KINDS[self]

    @property
    def verb(self) -> str:
        """How a refusal names the action: "You can't {verb} yourself."."""
        return self.kind.verb


class CaseState(enum.StrEnum):
    PENDING = "pending"  # recorded before the Discord call; not in force yet
    ACTIVE = "active"  # in force: a ban, a mute, a warning that still counts
    CLOSED = "closed"  # done, or no longer in force (expired, pardoned, replaced)
    FAILED = "failed"  # Discord refused; kept so numbers stay gap-free


#: Where a case may go from each state.
TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.PENDING: frozenset({CaseState.ACTIVE, CaseState.CLOSED, CaseState.FAILED}),
    CaseState.ACTIVE: frozenset({CaseState.CLOSED}),
    CaseState.CLOSED: frozenset(),
    CaseState.FAILED: frozenset(),
}


class DiscordEntry(enum.StrEnum):
    """The kinds of entry in Discord's own audit log that moderation reads."""

    BAN = "ban"
    UNBAN = "unban"
    KICK = "kick"
    TIMEOUT = "timeout"
    UNTIMEOUT = "untimeout"
    #: A member's roles changed: the mute role given or taken (never recorded as a case
    #: by itself; only the bot's own entries of it are looked for).
    ROLES = "roles"


@dataclass(frozen=True, slots=True)
class ActionKind:
    """Everything Lockdown knows about one kind of action."""

    action: Action
    #: Its case stays in force once confirmed (a ban, a mute, a warning that counts).
    stays_active: bool = False
    #: At most one such case may be in force per member; a new one replaces the old.
    one_per_member: bool = False
    #: The case in force that this action ends (an unban ends the ban).
    ends: Action | None = None
    #: The case recorded when this one runs out (a temporary ban ends in an unban).
    closed_by: Action | None = None
    #: What the moderator needs (unless they hold a moderator role) and what the bot needs.
    actor_needs: Permission = Permission.MODERATE_MEMBERS
    bot_needs: Permission | None = None
    #: Counted by the anti-nuke limit on one moderator's bans and kicks.
    paced: bool = False
    #: The `/config dm-notify` switch that tells the member; None: never told.
    dm_setting: str | None = None
    #: The DM goes before the action: a bot cannot DM someone who shares no guild with it.
    dm_first: bool = False
    #: The DM's phrase: "You have been {dm_phrase} **Guild**."
    dm_phrase: str = ""
    #: What a person doing this in Discord's client leaves in Discord's audit log.
    seen_as: DiscordEntry | None = None
    #: Every entry the bot's own Discord calls for it leave there.
    leaves: tuple[DiscordEntry, ...] = ()
    #: For replies: "Banned someone · case #3", "You can't ban yourself".
    past_tense: str = ""
    verb: str = ""

    @property
    def touches_discord(self) -> bool:
        return self.bot_needs is not None

    @property
    def replaces(self) -> Action | None:
        """The case in force a new one of this kind supersedes (a new ban, the old ban)."""
        return self.action if self.one_per_member else None

    @property
    def confirmed_state(self) -> CaseState:
        """The state its case takes once Discord carried the action out."""
        return CaseState.ACTIVE if self.stays_active else CaseState.CLOSED

    @property
    def lifted(self) -> Action | None:
        """The kind of case in force this action's case ends or replaces, if any."""
        return self.ends or self.replaces


BAN, KICK, MODERATE = (
    Permission.BAN_MEMBERS,
    Permission.KICK_MEMBERS,
    Permission.MODERATE_MEMBERS,
)

KINDS: dict[Action, ActionKind] = {
    kind.action: kind
    for kind in (
        ActionKind(
            Action.BAN,
            stays_active=True,
            one_per_member=True,
            closed_by=Action.UNBAN,
            actor_needs=BAN,
            bot_needs=BAN,
            paced=True,
            dm_setting="ban",
            dm_first=True,
            dm_phrase="banned from",
            seen_as=DiscordEntry.BAN,
            leaves=(DiscordEntry.BAN,),
            past_tense="Banned",
            verb="ban",
        ),
        ActionKind(
            Action.UNBAN,
            ends=Action.BAN,
            actor_needs=BAN,
            bot_needs=BAN,
            seen_as=DiscordEntry.UNBAN,
            leaves=(DiscordEntry.UNBAN,),
            past_tense="Unbanned",
            verb="unban",
        ),
        ActionKind(
            Action.SOFTBAN,
            actor_needs=BAN,
            bot_needs=BAN,
            paced=True,
            dm_setting="ban",
            dm_first=True,
            dm_phrase="removed from",
            leaves=(DiscordEntry.BAN, DiscordEntry.UNBAN),
            past_tense="Softbanned",
            verb="softban",
        ),
        ActionKind(
            Action.KICK,
            actor_needs=KICK,
            bot_needs=KICK,
            paced=True,
            dm_setting="kick",
            dm_first=True,
            dm_phrase="kicked from",
            seen_as=DiscordEntry.KICK,
            leaves=(DiscordEntry.KICK,),
            past_tense="Kicked",
            verb="kick",
        ),
        ActionKind(
            Action.MUTE,
            stays_active=True,
            one_per_member=True,
            closed_by=Action.UNMUTE,
            actor_needs=MODERATE,
            bot_needs=MODERATE,
            dm_setting="mute",
            dm_phrase="timed out in",
            seen_as=DiscordEntry.TIMEOUT,
            leaves=(DiscordEntry.TIMEOUT, DiscordEntry.ROLES),
            past_tense="Timed out",
            verb="time out",
        ),
        ActionKind(
            Action.UNMUTE,
            ends=Action.MUTE,
            actor_needs=MODERATE,
            bot_needs=MODERATE,
            seen_as=DiscordEntry.UNTIMEOUT,
            leaves=(DiscordEntry.UNTIMEOUT, DiscordEntry.ROLES),
            past_tense="Removed the timeout of",
            verb="remove the timeout of",
        ),
        ActionKind(
            Action.WARN,
            stays_active=True,
            dm_setting="warn",
            dm_phrase="warned in",
            past_tense="Warned",
            verb="warn",
        ),
        ActionKind(
            # Ends the case it names (a warning, a ban or a mute), lifting it on Discord.
            Action.PARDON,
            leaves=(DiscordEntry.UNBAN, DiscordEntry.UNTIMEOUT, DiscordEntry.ROLES),
            past_tense="Pardoned",
            verb="pardon",
        ),
        ActionKind(Action.NOTE, past_tense="Noted on", verb="add a note on"),
    )
}


def recorded_from_discord(entry: DiscordEntry) -> ActionKind:
    """The kind of case a person's entry in Discord's audit log becomes."""
    return next(kind for kind in KINDS.values() if kind.seen_as is entry)


def possible_sources(entry: DiscordEntry) -> tuple[Action, ...]:
    """The kinds of case whose Discord call may have left this entry (a softban
    leaves a ban and an unban; a pardon lifts a ban or a timeout)."""
    return tuple(kind.action for kind in KINDS.values() if entry in kind.leaves)
