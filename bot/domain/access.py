"""Who may do what through Lockdown: one rule, whichever door a request comes through.

Discord hides a command from members who lack its `default_member_permissions`,
but a server admin can show it to anyone (Server Settings > Integrations), so
Lockdown never relies on that: every service that acts for a person asks
`require` first. Each `Need` names the Discord permissions that grant it (any
one of them) and whether a moderator role (`/config moderator-role`) does too.

    access                                      needs (any one of)
    configure Lockdown; its change log, status  Manage Server
    read cases                                  Ban, Kick or Timeout Members; a moderator role
    change a case recording action X            X's permission; a moderator role
    moderate with action X                      X's permission; a moderator role

X's permission is `actor_needs` in the lifecycle table. Administrator grants
everything. So does owning the server: Discord reports the owner as holding
every permission, and the adapters build a `Participant` from what Discord reports
(adding Administrator for the owner, in case a report ever does not).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from operator import or_

from bot.domain.errors import LockdownError
from bot.domain.lifecycle import KINDS, Action
from bot.domain.permissions import PERMISSION_NAMES, Permission


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


class Refused(LockdownError):
    """The request must not go ahead; the message is for the person who made it."""


@dataclass(frozen=True, slots=True)
class Need:
    """What a person needs to do one thing."""

    #: What they are doing, for the refusal: "You need ... to {doing}."
    doing: str
    #: Any one of these grants it (Administrator always does).
    permissions: Permission
    #: A moderator role grants it too.
    moderator_role: bool = False

    def refusal(self) -> str:
        names = [name for bit, name in PERMISSION_NAMES.items() if bit & self.permissions]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        role = " or a moderator role" if self.moderator_role else ""
        return f"You need the {listed} permission{role} to {self.doing}."


class NotAllowed(Refused):
    """The person lacks what `need` asks for."""

    def __init__(self, need: Need) -> None:
        super().__init__(need.refusal())
        self.need = need


#: Any permission some moderation action needs: Ban, Kick or Timeout Members.
MODERATION: Permission = reduce(or_, (kind.actor_needs for kind in KINDS.values()))

#: /config, /feature and /policy: reading and changing Lockdown's configuration.
CONFIGURE = Need("change Lockdown's configuration", Permission.MANAGE_GUILD)
SEE_CONFIGURATION = Need("see Lockdown's configuration", Permission.MANAGE_GUILD)
#: /changes: who changed which setting or case.
READ_CHANGE_LOG = Need("read Lockdown's change log", Permission.MANAGE_GUILD)
#: /status: how this bot process runs.
SEE_STATUS = Need("see Lockdown's status", Permission.MANAGE_GUILD)
#: /case show, /history, /warnings; and the first gate of /case reason and /pardon.
READ_CASES = Need("read cases", MODERATION, moderator_role=True)
CHANGE_CASES = Need("change cases", MODERATION, moderator_role=True)


def change_case(action: Action, doing: str = "change") -> Need:
    """Changing a case (its reason, or pardoning it) needs the permission of the
    action it records: a ban case needs Ban Members."""
    return Need(f"{doing} a {action.value} case", action.kind.actor_needs, moderator_role=True)


def moderate(action: Action) -> Need:
    """Taking an action on a member needs that action's permission."""
    return Need(f"{action.verb} members", action.kind.actor_needs, moderator_role=True)


def allows(need: Need, actor: Participant, moderator_roles: Iterable[int] = ()) -> bool:
    if actor.has(need.permissions):
        return True
    return need.moderator_role and not actor.role_ids.isdisjoint(moderator_roles)


def require(need: Need, actor: Participant, moderator_roles: Iterable[int] = ()) -> None:
    """Return if `actor` may do what `need` describes; raise `NotAllowed` otherwise.

    `moderator_roles` are the guild's moderator role ids (its configuration's
    `moderator_role_ids`); only needs that a moderator role grants look at them.
    """
    if not allows(need, actor, moderator_roles):
        raise NotAllowed(need)
