"""What `lockdown doctor` checks, as pure rules over what Discord and the database say.

Which permissions a guild's configuration needs the bot to hold, which
privileged intents the application must have enabled, and which roles sit at
or above the bot's top role: each turned into one line of the checklist, with
a hint saying what to do when it fails. The service gathers the facts; this
module only judges them, so every rule is tested without Discord.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from bot.domain.config import GuildConfig
from bot.domain.lifecycle import KINDS
from bot.domain.permissions import PERMISSION_NAMES, Permission

#: What an owner or an Administrator holds: every permission, whatever the roles say.
EVERY_PERMISSION = (1 << 53) - 1


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    #: Not checked because an earlier check failed (no database, no token).
    SKIPPED = "skipped"
    #: Worth knowing, not wrong: admins often sit above the bot on purpose.
    NOTED = "noted"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist: what was checked, what was found, what to do."""

    subject: str
    outcome: Outcome
    detail: str
    hint: str | None = None

    @classmethod
    def passed(cls, subject: str, detail: str) -> Check:
        return cls(subject, Outcome.PASSED, detail)

    @classmethod
    def failed(cls, subject: str, detail: str, hint: str) -> Check:
        return cls(subject, Outcome.FAILED, detail, hint)

    @classmethod
    def noted(cls, subject: str, detail: str, hint: str) -> Check:
        return cls(subject, Outcome.NOTED, detail, hint)

    @classmethod
    def skipped(cls, subject: str, detail: str) -> Check:
        return cls(subject, Outcome.SKIPPED, detail)


def without_password(url: str) -> str:
    """A database or Redis URL fit to print: any password becomes `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


# ------------------------------------------------------------------ intents


class ApplicationFlag(enum.IntFlag):
    """The application's `flags` that say a privileged intent is enabled
    (the _LIMITED ones: enabled for a bot in fewer than 100 servers)."""

    GATEWAY_PRESENCE = 1 << 12
    GATEWAY_PRESENCE_LIMITED = 1 << 13
    GATEWAY_GUILD_MEMBERS = 1 << 14
    GATEWAY_GUILD_MEMBERS_LIMITED = 1 << 15
    GATEWAY_MESSAGE_CONTENT = 1 << 18
    GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19


@dataclass(frozen=True, slots=True)
class PrivilegedIntent:
    #: As the Developer Portal labels its switch.
    label: str
    #: Either flag means it is enabled.
    enabled_by: ApplicationFlag


#: By discord.py's name for each (`discord.Intents.members`, ...).
PRIVILEGED_INTENTS: dict[str, PrivilegedIntent] = {
    "presences": PrivilegedIntent(
        "Presence Intent",
        ApplicationFlag.GATEWAY_PRESENCE | ApplicationFlag.GATEWAY_PRESENCE_LIMITED,
    ),
    "members": PrivilegedIntent(
        "Server Members Intent",
        ApplicationFlag.GATEWAY_GUILD_MEMBERS | ApplicationFlag.GATEWAY_GUILD_MEMBERS_LIMITED,
    ),
    "message_content": PrivilegedIntent(
        "Message Content Intent",
        ApplicationFlag.GATEWAY_MESSAGE_CONTENT | ApplicationFlag.GATEWAY_MESSAGE_CONTENT_LIMITED,
    ),
}

ENABLE_INTENTS = (
    "enable it in the Developer Portal: Applications → your bot → Bot → "
    "Privileged Gateway Intents (Discord refuses the connection without it, close code 4014)"
)


def intents_check(requested: Mapping[str, str], application_flags: int) -> Check:
    """`requested`: each privileged intent the bot asks for, with what needs it."""
    wanted = {PRIVILEGED_INTENTS[name]: why for name, why in requested.items()}
    if not wanted:
        return Check.passed("intents", "the bot requests no privileged intent")
    disabled = [(i, why) for i, why in wanted.items() if not application_flags & i.enabled_by]
    if disabled:
        listed = "; ".join(f"{i.label} is not enabled, and {why} needs it" for i, why in disabled)
        return Check.failed("intents", listed, ENABLE_INTENTS)
    labels = ", ".join(i.label for i in wanted)
    return Check.passed("intents", f"{labels} enabled for the application")


# ------------------------------------------------------------- permissions


@dataclass(frozen=True, slots=True)
class Role:
    id: int
    name: str
    position: int
    permissions: int


@dataclass(frozen=True, slots=True)
class GuildFacts:
    """What one `GET /guilds/{id}` says: the guild and its roles (@everyone's id is
    the guild's)."""

    id: int
    name: str
    owner_id: int
    roles: tuple[Role, ...]

    def role(self, role_id: int) -> Role | None:
        return next((r for r in self.roles if r.id == role_id), None)


@dataclass(frozen=True, slots=True)
class Overwrite:
    """A channel permission overwrite for a role or for one member."""

    target_id: int
    is_role: bool
    allow: int
    deny: int


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    id: int
    name: str
    overwrites: tuple[Overwrite, ...]


@dataclass(frozen=True, slots=True)
class Need:
    """A permission the bot must hold, and what it is for."""

    permission: Permission
    purpose: str

    def describe(self) -> str:
        return f"{PERMISSION_NAMES[self.permission]} (for {self.purpose})"


def _commands_needing(permission: Permission) -> list[str]:
    return [f"/{k.action.value}" for k in KINDS.values() if k.bot_needs == permission]


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def guild_needs(config: GuildConfig) -> tuple[Need, ...]:
    """Every guild-wide permission the bot needs for what this guild has switched on."""
    audit = "settling actions a crash interrupted"
    if config.enabled("ui_capture"):
        audit += " and recording actions taken in Discord's own client"
    needs = [
        Need(
            Permission.BAN_MEMBERS,
            _listed([*_commands_needing(Permission.BAN_MEMBERS), "/massban"]),
        ),
        Need(Permission.KICK_MEMBERS, _listed(_commands_needing(Permission.KICK_MEMBERS))),
        Need(Permission.MODERATE_MEMBERS, _listed(_commands_needing(Permission.MODERATE_MEMBERS))),
        Need(Permission.MANAGE_GUILD, "/massban: Discord's bulk ban asks for it"),
        Need(Permission.VIEW_AUDIT_LOG, audit),
    ]
    if config.mute_role_id is not None:
        needs.append(Need(Permission.MANAGE_ROLES, "giving the mute role"))
    return tuple(needs)


#: What posting a mod-log embed takes in its channel.
MODLOG_NEEDS = (Permission.VIEW_CHANNEL, Permission.SEND_MESSAGES, Permission.EMBED_LINKS)


def guild_permissions(guild: GuildFacts, user_id: int, role_ids: Iterable[int]) -> int:
    """Discord's base permissions: @everyone's and every role's together; the owner
    and an Administrator hold everything."""
    if user_id == guild.owner_id:
        return EVERY_PERMISSION
    held = set(role_ids) | {guild.id}
    permissions = 0
    for role in guild.roles:
        if role.id in held:
            permissions |= role.permissions
    if permissions & Permission.ADMINISTRATOR:
        return EVERY_PERMISSION
    return permissions


def channel_permissions(
    guild: GuildFacts, channel: ChannelFacts, user_id: int, role_ids: Iterable[int]
) -> int:
    """Base permissions with the channel's overwrites applied in Discord's order:
    @everyone's, then every role's together (deny, then allow), then the member's."""
    permissions = guild_permissions(guild, user_id, role_ids)
    if permissions == EVERY_PERMISSION:
        return permissions
    held = set(role_ids)
    everyone = [o for o in channel.overwrites if o.is_role and o.target_id == guild.id]
    roles = [o for o in channel.overwrites if o.is_role and o.target_id in held]
    own = [o for o in channel.overwrites if not o.is_role and o.target_id == user_id]
    for group in (everyone, roles, own):
        deny = allow = 0
        for overwrite in group:
            deny |= overwrite.deny
            allow |= overwrite.allow
        permissions = (permissions & ~deny) | allow
    if not permissions & Permission.VIEW_CHANNEL:
        return 0
    return permissions


@dataclass(frozen=True, slots=True)
class BotInGuild:
    """Who the bot is in one guild: its id and the roles it holds."""

    id: int
    role_ids: frozenset[int]

    def top_position(self, guild: GuildFacts) -> int:
        return max((r.position for r in guild.roles if r.id in self.role_ids), default=0)

    def top_role(self, guild: GuildFacts) -> Role | None:
        held = [r for r in guild.roles if r.id in self.role_ids]
        return max(held, key=lambda r: r.position) if held else None


#: What the mod-log channel lookup found.
class ModLogChannel(enum.Enum):
    GONE = "gone"  # 404: deleted
    HIDDEN = "hidden"  # 403: the bot cannot see it


GRANT = "grant what is missing to Lockdown's role in Server Settings → Roles"


def permissions_check(
    guild: GuildFacts,
    bot: BotInGuild,
    config: GuildConfig,
    modlog: ChannelFacts | ModLogChannel | None,
) -> Check:
    """Whether the bot holds every permission this guild's configuration needs;
    `modlog` is the configured mod-log channel (None when none is set)."""
    subject = guild_subject(guild)
    held = guild_permissions(guild, bot.id, bot.role_ids)
    missing = [n.describe() for n in guild_needs(config) if not held & n.permission]
    problems: list[str] = []
    hints = [GRANT] if missing else []
    if isinstance(modlog, ModLogChannel):
        gone = "no longer exists" if modlog is ModLogChannel.GONE else "is hidden from Lockdown"
        problems.append(f"the mod-log channel ({config.modlog_channel_id}) {gone}")
        hints.append("choose another with /config modlog")
    elif modlog is not None:
        in_channel = channel_permissions(guild, modlog, bot.id, bot.role_ids)
        lacking = [PERMISSION_NAMES[p] for p in MODLOG_NEEDS if not in_channel & p]
        if lacking:
            missing.append(f"{_listed(lacking)} in #{modlog.name} (for the mod log)")
            hints.append(f"allow what is missing in #{modlog.name}'s channel permissions")
    if config.mute_role_id is not None:
        mute_role = guild.role(config.mute_role_id)
        if mute_role is None:
            problems.append(f"the mute role ({config.mute_role_id}) no longer exists")
            hints.append("choose another with /config mute-role")
        elif bot.id != guild.owner_id and mute_role.position >= bot.top_position(guild):
            problems.append(
                f"the mute role @{mute_role.name} is not below Lockdown's top role, "
                "so Lockdown cannot give it"
            )
            hints.append("move Lockdown's role above it in Server Settings → Roles")
    if not missing and not problems:
        return Check.passed(subject, "has every permission its features need")
    found = ([f"missing {'; '.join(missing)}"] if missing else []) + problems
    return Check.failed(subject, "; ".join(found), "; ".join(hints))


def roles_at_or_above(guild: GuildFacts, bot: BotInGuild) -> list[Role]:
    """Roles Lockdown does not hold whose position is at or above its top role:
    members holding one cannot be moderated by it. Highest first."""
    if bot.id == guild.owner_id:
        return []
    top = bot.top_position(guild)
    above = [
        r
        for r in guild.roles
        if r.id != guild.id and r.id not in bot.role_ids and r.position >= top
    ]
    return sorted(above, key=lambda r: r.position, reverse=True)


def hierarchy_check(guild: GuildFacts, bot: BotInGuild) -> Check:
    subject = guild_subject(guild)
    above = roles_at_or_above(guild, bot)
    top = bot.top_role(guild)
    mine = f"@{top.name}" if top is not None else "@everyone"
    if not above:
        return Check.passed(subject, f"no role sits at or above Lockdown's top role ({mine})")
    names = ", ".join(f"@{r.name}" for r in above)
    one = len(above) == 1
    return Check.noted(
        subject,
        f"{names} {'sits' if one else 'sit'} at or above Lockdown's top role ({mine}): "
        f"members holding {'it' if one else 'them'} cannot be moderated by Lockdown",
        f"move Lockdown's role above {'it' if one else 'them'} in Server Settings → Roles, "
        "if those members should be moderated",
    )


def guild_subject(guild: GuildFacts | GuildEntry) -> str:
    return f'guild "{guild.name}" ({guild.id})'


# --------------------------------------------------------------------- port


@dataclass(frozen=True, slots=True)
class BotAccount:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class GuildEntry:
    """A guild as the bot's guild list shows it."""

    id: int
    name: str


class DiscordDirectory(Protocol):
    """The reads `lockdown doctor` makes over Discord's REST API, a bounded few per
    guild. Each raises `DiscordFailure` (status 0: Discord could not be reached)."""

    async def log_in(self, token: str) -> BotAccount:
        """`GET /users/@me` with the token: who the bot is (401: a bad token)."""
        ...

    async def application_flags(self) -> int:
        """`GET /applications/@me`'s `flags`."""
        ...

    def guilds(self) -> AsyncIterator[GuildEntry]:
        """Every guild the bot is in, page by page, by id."""
        ...

    async def guild(self, guild_id: int) -> GuildFacts: ...

    async def member_roles(self, guild_id: int, user_id: int) -> frozenset[int]: ...

    async def channel(self, channel_id: int) -> ChannelFacts: ...

    async def close(self) -> None: ...
