"""Who may act on whom: the one pre-flight check before any Discord call.

Discord enforces most of this too, but answering before the request gives the
moderator a precise reason and leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.access import Participant, Refused, moderate, require
from bot.domain.lifecycle import Action
from bot.domain.permissions import PERMISSION_NAMES, Permission

__all__ = ["Participant", "Permission", "Refused", "Scene", "preflight"]


@dataclass(frozen=True, slots=True)
class Scene:
    """Everyone involved in one action. `target` is None for a user not in the guild."""

    owner_id: int
    actor: Participant
    bot: Participant
    target_id: int
    target: Participant | None


def preflight(action: Action, scene: Scene, moderator_roles: Iterable[int] = ()) -> None:
    """Raise `Refused` with a precise reason, or return if the action may go ahead.

    The moderator needs what `access.moderate(action)` asks (the action's Discord
    permission or one of the guild's moderator roles); the bot always needs the
    permission itself.
    """
    require(moderate(action), scene.actor, moderator_roles)
    kind = action.kind
    verb = kind.verb
    if scene.target_id == scene.actor.id:
        raise Refused(f"You can't {verb} yourself.")
    if scene.target_id == scene.bot.id:
        raise Refused(f"I won't {verb} myself.")
    if scene.target_id == scene.owner_id and action is not Action.UNBAN:
        raise Refused(f"You can't {verb} the server owner.")
    needed = kind.bot_needs
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
