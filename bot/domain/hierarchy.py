"""Who may act on whom: the one pre-flight check before any Discord call.

Discord enforces most of this too, but answering before the request gives the
moderator a precise reason and leaves nothing half-done.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.errors import LockdownError


class Permission(enum.IntFlag):
    """The Discord permission bits moderation needs (values are Discord's)."""

    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_GUILD = 1 << 5
    MANAGE_ROLES = 1 << 28
    MODERATE_MEMBERS = 1 << 40


class Action(enum.StrEnum):
    """What a moderator asks for; `verb` is how a refusal names it."""

    BAN = "ban"
    UNBAN = "unban"
    SOFTBAN = "softban"
    KICK = "kick"
    MUTE = "mute"
    UNMUTE = "unmute"
    WARN = "warn"
    NOTE = "note"

    @property
    def verb(self) -> str:
        return {"mute": "time out", "unmute": "remove the timeout of"}.get(self.value, self.value)


#: What the bot itself needs to carry out each action on Discord.
BOT_NEEDS = {
    Action.BAN: Permission.BAN_MEMBERS,
    Action.UNBAN: Permission.BAN_MEMBERS,
    Action.SOFTBAN: Permission.BAN_MEMBERS,
    Action.KICK: Permission.KICK_MEMBERS,
    Action.MUTE: Permission.MODERATE_MEMBERS,
    Action.UNMUTE: Permission.MODERATE_MEMBERS,
}

#: What a moderator needs to ask for each action (unless they hold a moderator role).
ACTOR_NEEDS = {
    **BOT_NEEDS,
    Action.WARN: Permission.MODERATE_MEMBERS,
    Action.NOTE: Permission.MODERATE_MEMBERS,
}

PERMISSION_NAMES = {
    Permission.BAN_MEMBERS: "Ban Members",
    Permission.KICK_MEMBERS: "Kick Members",
    Permission.MODERATE_MEMBERS: "Timeout Members",
}


@dataclass(frozen=True, slots=True)
class Participant:
    """A guild member as the rules see them."""

    id: int
    top_role_position: int
    permissions: int
    role_ids: frozenset[int] = frozenset()

    def has(self, permission: Permission) -> bool:
        return bool(self.permissions & (permission | Permission.ADMINISTRATOR))

    @property
    def is_admin(self) -> bool:
        return bool(self.permissions & Permission.ADMINISTRATOR)


@dataclass(frozen=True, slots=True)
class Scene:
    """Everyone involved in one action. `target` is None for a user not in the guild."""

    owner_id: int
    actor: Participant
    bot: Participant
    target_id: int
    target: Participant | None


class Refused(LockdownError):
    """The action must not be attempted; the message is for the moderator."""


def preflight(action: Action, scene: Scene, moderator_roles: Iterable[int] = ()) -> None:
    """Raise `Refused` with a precise reason, or return if the action may go ahead.

    The moderator needs the action's Discord permission or one of the guild's
    moderator roles; the bot always needs the permission itself.
    """
    verb = action.verb
    required = ACTOR_NEEDS[action]
    if not scene.actor.has(required) and not scene.actor.role_ids & set(moderator_roles):
        raise Refused(
            f"You need the {PERMISSION_NAMES[required]} permission or a moderator role "
            f"to {verb} members."
        )
    if scene.target_id == scene.actor.id:
        raise Refused(f"You can't {verb} yourself.")
    if scene.target_id == scene.bot.id:
        raise Refused(f"I won't {verb} myself.")
    if scene.target_id == scene.owner_id and action is not Action.UNBAN:
        raise Refused(f"You can't {verb} the server owner.")
    needed = BOT_NEEDS.get(action)
    if needed is not None and not scene.bot.has(needed):
        raise Refused(f"I need the {PERMISSION_NAMES[needed]} permission to {verb} members.")
    target = scene.target
    if target is None:
        return
    actor_is_owner = scene.actor.id == scene.owner_id
    if not actor_is_owner and scene.actor.top_role_position <= target.top_role_position:
        raise Refused(
            f"You can only {verb} members whose highest role is below yours "
            f"(theirs is at position {target.top_role_position}, yours at "
            f"{scene.actor.top_role_position})."
        )
    if needed is not None and scene.bot.top_role_position <= target.top_role_position:
        raise Refused(
            f"My highest role must be above the member's highest role to {verb} them: "
            "move my role up in Server Settings > Roles."
        )
    if action is Action.MUTE and target.is_admin:
        raise Refused("Administrators can't be timed out: Discord ignores timeouts on them.")
