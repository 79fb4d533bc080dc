"""In-memory Discord state: users, guilds, roles, channels, members, bans, audit log, messages.

The world is plain data plus the rules Discord computes from it (permissions,
role hierarchy). It never talks to the network: the REST and gateway layers
read and mutate it, and tests build it up before the bot connects.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, IntFlag
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000


class Permission(IntFlag):
    """The permission bits the emulator enforces or hands out."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40


# Owners and administrators get every bit Discord defines (bits 0..52).
ALL_PERMISSIONS = (1 << 53) - 1
# What a timed-out member keeps (Discord strips everything else).
TIMEOUT_KEEPS = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY
DEFAULT_EVERYONE_PERMISSIONS = (
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.SEND_MESSAGES_IN_THREADS
)


class ChannelType(IntEnum):
    GUILD_TEXT = 0
    DM = 1
    GUILD_CATEGORY = 4


class MessageFlag(IntFlag):
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    COMPONENTS_V2 = 1 << 15


def utcnow() -> datetime:
    return datetime.now(UTC)


def snowflake_time(snowflake: int) -> datetime:
    """When a snowflake was minted (its top 42 bits are ms since the Discord epoch)."""
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


class SnowflakeGenerator:
    """Mints realistic, strictly increasing snowflakes from the wall clock."""

    def __init__(self, worker_id: int = 1, process_id: int = 0) -> None:
        self._prefix = (worker_id & 0x1F) << 17 | (process_id & 0x1F) << 12
        self._increment = 0
        self._last = 0

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = ms << 22 | self._prefix | (self._increment & 0xFFF)
        self._increment += 1
        value = max(value, self._last + 1)
        self._last = value
        return value

    def next_for_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh id whose guild shard is `(id >> 22) % shard_count == shard_id`.

        Ids minted in the same millisecond share a shard, so this nudges the
        timestamp forward (by at most shard_count - 1 ms) to land on the shard.
        """
        value = self.next()
        while (value >> 22) % shard_count != shard_id:
            value += 1 << 22
        self._last = value
        return value


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    dm_open: bool = True
    global_name: str | None = None


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    position: int
    permissions: int = 0
    managed: bool = False
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    bot_id: int | None = None


@dataclass
class Overwrite:
    """A channel permission overwrite; type 0 targets a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    id: int
    name: str
    type: int = ChannelType.GUILD_TEXT
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    # Test switch: when False the bot gets 50013 posting here, whatever its permissions.
    bot_can_send: bool = True
    recipient_id: int | None = None
    last_message_id: int | None = None


@dataclass
class Member:
    user_id: int
    role_ids: list[int] = field(default_factory=list)
    joined_at: datetime = field(default_factory=utcnow)
    nick: str | None = None
    communication_disabled_until: datetime | None = None

    def is_timed_out(self, now: datetime | None = None) -> bool:
        until = self.communication_disabled_until
        return until is not None and until > (now or utcnow())


@dataclass
class AuditLogEntry:
    id: int
    guild_id: int
    action_type: int
    user_id: int | None
    target_id: int | None
    reason: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] | None = None


@dataclass
class InteractionOrigin:
    """The interaction a message answers: its id, type and the user who triggered it."""

    id: int
    type: int
    user_id: int


@dataclass
class Message:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    flags: int = 0
    attachments: list[dict[str, Any]] = field(default_factory=list)
    type: int = 0
    tts: bool = False
    # Set for messages created through an interaction (webhook_id is the application id).
    webhook_id: int | None = None
    interaction: InteractionOrigin | None = None
    # Who actually got pinged after allowed_mentions was applied.
    mention_user_ids: list[int] = field(default_factory=list)
    mention_role_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    edited_at: datetime | None = None
    deleted: bool = False

    @property
    def created_at(self) -> datetime:
        return snowflake_time(self.id)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlag.EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & MessageFlag.LOADING)

    def custom_ids(self) -> list[str]:
        """Every component custom_id on the message, depth first."""
        found: list[str] = []
        stack = list(reversed(self.components))
        while stack:
            component = stack.pop()
            if "custom_id" in component:
                found.append(component["custom_id"])
            children = list(component.get("components", []))
            if "component" in component:
                children.append(component["component"])
            if "accessory" in component:
                children.append(component["accessory"])
            stack.extend(reversed(children))
        return found


@dataclass
class ApplicationCommand:
    id: int
    application_id: int
    guild_id: int | None
    name: str
    type: int
    definition: dict[str, Any]
    version: int


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    bans: dict[int, str | None] = field(default_factory=dict)
    audit_log: list[AuditLogEntry] = field(default_factory=list)
    preferred_locale: str = "en-US"

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]


@dataclass
class StandardGuild:
    """A small realistic server; see `World.build_standard_guild`."""

    guild: Guild
    owner: User
    admin: User
    moderator: User
    bot: User
    members: list[User]
    general: Channel
    mod_log: Channel
    member_role: Role
    moderator_role: Role
    bot_role: Role
    admin_role: Role


UserRef = User | Member | int
GuildRef = Guild | int
RoleRef = Role | int
ChannelRef = Channel | int


def id_of(ref: UserRef | GuildRef | RoleRef | ChannelRef) -> int:
    """Accept either an object or its id wherever the helpers take an entity."""
    if isinstance(ref, int):
        return ref
    if isinstance(ref, Member):
        return ref.user_id
    return ref.id


class World:
    """Everything the emulated Discord knows."""

    def __init__(self, *, bot_user_id: int | None = None, bot_username: str = "Lockdown") -> None:
        # Discord's process id field: emulators in two pytest-xdist workers minting in
        # the same millisecond still mint different ids (the shared Redis keys by them).
        self.snowflakes = SnowflakeGenerator(process_id=os.getpid())
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        # Every channel, guild or DM, by id.
        self.channels: dict[int, Channel] = {}
        # Every message ever posted, deleted ones included (flagged), by id.
        self.messages: dict[int, Message] = {}
        self.commands: dict[int, ApplicationCommand] = {}
        self.bot = self.add_user(bot_username, bot=True, id=bot_user_id)
        # Modern bots share their id with their application.
        self.application_id = self.bot.id

    def next_id(self) -> int:
        return self.snowflakes.next()

    # ----------------------------------------------------------------- builders

    def add_user(
        self,
        username: str,
        *,
        bot: bool = False,
        dm_open: bool = True,
        id: int | None = None,
        global_name: str | None = None,
    ) -> User:
        user = User(id or self.next_id(), username, bot, dm_open, global_name)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        owner: UserRef,
        name: str = "Test Guild",
        *,
        shard: tuple[int, int] | None = None,
        id: int | None = None,
        with_bot: bool = True,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        channel_name: str = "general",
    ) -> Guild:
        """Create a guild with its @everyone role (id == guild id) and one text channel.

        `shard=(shard_id, shard_count)` picks an id that lands on that shard.
        """
        owner_id = id_of(owner)
        self.user(owner_id)
        if id is None:
            id = self.snowflakes.next_for_shard(*shard) if shard else self.next_id()
        guild = Guild(id, name, owner_id)
        guild.roles[id] = Role(id, id, "@everyone", 0, int(everyone_permissions))
        self.guilds[id] = guild
        self.add_channel(guild, channel_name)
        self.add_member(guild, owner_id)
        if with_bot:
            self.add_member(guild, self.bot)
        return guild

    def add_role(
        self,
        guild: GuildRef,
        name: str,
        position: int | None = None,
        permissions: int = 0,
        *,
        managed: bool = False,
        bot_id: int | None = None,
        hoist: bool = False,
        color: int = 0,
    ) -> Role:
        """Add a role; without `position` it goes on top of the existing ones."""
        g = self.guild(guild)
        if position is None:
            position = max(role.position for role in g.roles.values()) + 1
        role = Role(
            self.next_id(),
            g.id,
            name,
            position,
            int(permissions),
            managed=managed,
            bot_id=bot_id,
            hoist=hoist,
            color=color,
        )
        g.roles[role.id] = role
        return role

    def add_member(
        self,
        guild: GuildRef,
        user: UserRef,
        roles: list[RoleRef] | tuple[RoleRef, ...] = (),
        *,
        nick: str | None = None,
        joined_at: datetime | None = None,
        communication_disabled_until: datetime | None = None,
    ) -> Member:
        g = self.guild(guild)
        user_id = id_of(user)
        self.user(user_id)
        member = Member(
            user_id,
            [id_of(role) for role in roles],
            joined_at or utcnow(),
            nick,
            communication_disabled_until,
        )
        g.members[user_id] = member
        return member

    def add_channel(
        self,
        guild: GuildRef,
        name: str,
        *,
        type: int = ChannelType.GUILD_TEXT,
        overwrites: list[Overwrite] | None = None,
        bot_can_send: bool = True,
        topic: str | None = None,
        parent_id: int | None = None,
    ) -> Channel:
        g = self.guild(guild)
        channel = Channel(
            self.next_id(),
            name,
            type,
            g.id,
            position=len(g.channels),
            topic=topic,
            parent_id=parent_id,
            overwrites=list(overwrites or []),
            bot_can_send=bot_can_send,
        )
        g.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def dm_channel_with(self, user: UserRef) -> Channel:
        """The bot's DM channel with a user, created on first use like Discord does."""
        user_id = id_of(user)
        for channel in self.channels.values():
            if channel.type == ChannelType.DM and channel.recipient_id == user_id:
                return channel
        channel = Channel(self.next_id(), "", ChannelType.DM, recipient_id=user_id)
        self.channels[channel.id] = channel
        return channel

    def build_standard_guild(
        self,
        name: str = "Lockdown Test Server",
        *,
        shard: tuple[int, int] | None = None,
        regular_members: int = 3,
    ) -> StandardGuild:
        """A realistic server for end-to-end tests.

        Role order (bottom to top): @everyone 0, Member 1, Moderator 2,
        Lockdown (the bot's managed role) 3, Admin 4. So the bot outranks the
        moderator and regular members but not the admin (a natural hierarchy
        refusal) or the owner. The moderator holds ban/kick/timeout; the bot
        additionally holds MANAGE_ROLES, VIEW_AUDIT_LOG and MANAGE_GUILD (the
        latter is needed for bulk bans). #mod-log is a second text channel.
        """
        prefix = name.split(maxsplit=1)[0].lower()
        owner = self.add_user(f"{prefix}-owner")
        guild = self.add_guild(owner, name, shard=shard)
        member_role = self.add_role(guild, "Member", 1)
        moderator_role = self.add_role(
            guild,
            "Moderator",
            2,
            Permission.BAN_MEMBERS
            | Permission.KICK_MEMBERS
            | Permission.MODERATE_MEMBERS
            | Permission.MANAGE_MESSAGES
            | Permission.VIEW_AUDIT_LOG,
        )
        bot_role = self.add_role(
            guild,
            self.bot.username,
            3,
            Permission.BAN_MEMBERS
            | Permission.KICK_MEMBERS
            | Permission.MODERATE_MEMBERS
            | Permission.MANAGE_ROLES
            | Permission.MANAGE_MESSAGES
            | Permission.MANAGE_GUILD
            | Permission.VIEW_AUDIT_LOG
            | Permission.VIEW_CHANNEL
            | Permission.SEND_MESSAGES
            | Permission.EMBED_LINKS
            | Permission.READ_MESSAGE_HISTORY,
            managed=True,
            bot_id=self.bot.id,
        )
        admin_role = self.add_role(guild, "Admin", 4, Permission.ADMINISTRATOR)
        guild.members[self.bot.id].role_ids.append(bot_role.id)
        admin = self.add_user(f"{prefix}-admin")
        self.add_member(guild, admin, [member_role, admin_role])
        moderator = self.add_user(f"{prefix}-moderator")
        self.add_member(guild, moderator, [member_role, moderator_role])
        members = []
        for index in range(regular_members):
            user = self.add_user(f"{prefix}-member{index + 1}")
            self.add_member(guild, user, [member_role])
            members.append(user)
        general = next(iter(guild.channels.values()))
        mod_log = self.add_channel(guild, "mod-log")
        return StandardGuild(
            guild,
            owner,
            admin,
            moderator,
            self.bot,
            members,
            general,
            mod_log,
            member_role,
            moderator_role,
            bot_role,
            admin_role,
        )

    # ------------------------------------------------------------------ lookups

    def user(self, ref: UserRef) -> User:
        return self.users[id_of(ref)]

    def guild(self, ref: GuildRef) -> Guild:
        return self.guilds[id_of(ref)]

    def channel(self, ref: ChannelRef) -> Channel:
        return self.channels[id_of(ref)]

    def shares_guild_with_bot(self, user_id: int) -> bool:
        return any(
            user_id in guild.members and self.bot.id in guild.members
            for guild in self.guilds.values()
        )

    # ------------------------------------------------------------- permissions

    def top_role_position(self, guild: GuildRef, user: UserRef) -> int:
        """Position of the member's highest role; @everyone (0) if none."""
        g = self.guild(guild)
        member = g.members.get(id_of(user))
        if member is None:
            return 0
        return max((g.roles[r].position for r in member.role_ids if r in g.roles), default=0)

    def outranks(self, guild: GuildRef, actor: UserRef, target: UserRef) -> bool:
        """Discord's hierarchy rule: nobody outranks the owner; the owner outranks all;
        otherwise the actor's top role must be strictly above the target's."""
        g = self.guild(guild)
        actor_id, target_id = id_of(actor), id_of(target)
        if target_id == g.owner_id:
            return False
        if actor_id == g.owner_id:
            return True
        return self.top_role_position(g, actor_id) > self.top_role_position(g, target_id)

    def permissions(self, guild: GuildRef, user: UserRef) -> int:
        """Guild-level permissions: @everyone | member roles; owner/admin get everything;
        a timed-out member keeps only VIEW_CHANNEL and READ_MESSAGE_HISTORY."""
        g = self.guild(guild)
        user_id = id_of(user)
        if user_id == g.owner_id:
            return ALL_PERMISSIONS
        member = g.members.get(user_id)
        if member is None:
            return 0
        perms = g.everyone.permissions
        for role_id in member.role_ids:
            if role_id in g.roles:
                perms |= g.roles[role_id].permissions
        if perms & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        if member.is_timed_out():
            perms &= TIMEOUT_KEEPS
        return perms

    def channel_permissions(self, channel: ChannelRef, user: UserRef) -> int:
        """Channel permissions with overwrites applied in Discord's order
        (@everyone, then all role overwrites together, then the member's)."""
        ch = self.channel(channel)
        user_id = id_of(user)
        if ch.guild_id is None:
            return int(
                Permission.VIEW_CHANNEL
                | Permission.SEND_MESSAGES
                | Permission.EMBED_LINKS
                | Permission.READ_MESSAGE_HISTORY
            )
        g = self.guild(ch.guild_id)
        perms = self.permissions(g, user_id)
        if perms & Permission.ADMINISTRATOR:
            return perms
        member = g.members.get(user_id)
        if member is None:
            return 0
        by_target = {(ow.type, ow.id): ow for ow in ch.overwrites}
        everyone = by_target.get((0, g.id))
        if everyone:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in member.role_ids:
            ow = by_target.get((0, role_id))
            if ow:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        own = by_target.get((1, user_id))
        if own:
            perms = (perms & ~own.deny) | own.allow
        if member.is_timed_out():
            perms &= TIMEOUT_KEEPS
        if not perms & Permission.VIEW_CHANNEL:
            return 0
        return perms
