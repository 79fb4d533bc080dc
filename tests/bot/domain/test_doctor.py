"""The doctor's rules on plain facts: permissions as Discord computes them, what a
configuration needs, privileged intents, and the role order."""

from __future__ import annotations

import pytest

from bot.domain.config import GuildConfig
from bot.domain.doctor import (
    EVERY_PERMISSION,
    ApplicationFlag,
    BotInGuild,
    ChannelFacts,
    GuildFacts,
    ModLogChannel,
    Outcome,
    Overwrite,
    Role,
    channel_permissions,
    guild_needs,
    guild_permissions,
    hierarchy_check,
    intents_check,
    permissions_check,
    roles_at_or_above,
    without_password,
)
from bot.domain.permissions import Permission

GUILD, OWNER, BOT, MEMBER = 100, 1, 2, 3
BOT_ROLE, MOD_ROLE, ADMIN_ROLE, MUTED = 10, 11, 12, 13
EVERYTHING_NEEDED = (
    Permission.BAN_MEMBERS
    | Permission.KICK_MEMBERS
    | Permission.MODERATE_MEMBERS
    | Permission.MANAGE_GUILD
    | Permission.VIEW_AUDIT_LOG
    | Permission.MANAGE_ROLES
)
EVERYONE = Role(
    GUILD,
    "@everyone",
    0,
    int(Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES | Permission.EMBED_LINKS),
)


def guild(*roles: Role) -> GuildFacts:
    return GuildFacts(GUILD, "Test", OWNER, (EVERYONE, *roles))


def bot(*role_ids: int) -> BotInGuild:
    return BotInGuild(BOT, frozenset(role_ids))


LOCKDOWN = Role(BOT_ROLE, "Lockdown", 3, int(EVERYTHING_NEEDED))
MODERATOR = Role(MOD_ROLE, "Moderator", 2, int(Permission.BAN_MEMBERS))
MUTED_ROLE = Role(MUTED, "Muted", 1, 0)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://lock:s3cret@db:5432/lockdown", "postgresql+asyncpg://lock:***@db:5432/lockdown"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("sqlite+aiosqlite:///./lockdown.db", "sqlite+aiosqlite:///./lockdown.db"),
    ],
)  # fmt: skip
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert without_password(url) == shown


def test_base_permissions_join_everyone_and_roles_and_admin_or_owner_hold_all() -> None:
    admin = Role(ADMIN_ROLE, "Admin", 4, int(Permission.ADMINISTRATOR))
    facts = guild(MODERATOR, admin)
    assert guild_permissions(facts, MEMBER, [MOD_ROLE]) == (
        EVERYONE.permissions | Permission.BAN_MEMBERS
    )
    assert guild_permissions(facts, MEMBER, []) == EVERYONE.permissions
    assert guild_permissions(facts, MEMBER, [ADMIN_ROLE]) == EVERY_PERMISSION
    assert guild_permissions(facts, OWNER, []) == EVERY_PERMISSION


def test_channel_overwrites_apply_everyone_then_roles_then_the_member() -> None:
    facts = guild(LOCKDOWN, MODERATOR)
    send = int(Permission.SEND_MESSAGES)
    everyone_denies = Overwrite(GUILD, True, allow=0, deny=send)
    role_allows = Overwrite(BOT_ROLE, True, allow=send, deny=0)
    other_role_denies = Overwrite(MOD_ROLE, True, allow=0, deny=send)
    member_denies = Overwrite(BOT, False, allow=0, deny=send)

    def can_send(*overwrites: Overwrite, roles: tuple[int, ...] = (BOT_ROLE,)) -> bool:
        channel = ChannelFacts(5, "mod-log", overwrites)
        return bool(channel_permissions(facts, channel, BOT, roles) & send)

    assert not can_send(everyone_denies)
    assert can_send(everyone_denies, role_allows)
    # Role overwrites act together: an allow on one role beats a deny on another.
    assert can_send(role_allows, other_role_denies, roles=(BOT_ROLE, MOD_ROLE))
    assert not can_send(role_allows, member_denies)
    hidden = Overwrite(GUILD, True, allow=0, deny=int(Permission.VIEW_CHANNEL))
    assert channel_permissions(facts, ChannelFacts(5, "x", (hidden,)), BOT, [BOT_ROLE]) == 0


def test_what_a_configuration_needs() -> None:
    default = {n.permission: n.purpose for n in guild_needs(GuildConfig())}
    assert default == {
        Permission.BAN_MEMBERS: "/ban, /unban, /softban and /massban",
        Permission.KICK_MEMBERS: "/kick",
        Permission.MODERATE_MEMBERS: "/mute and /unmute",
        Permission.MANAGE_GUILD: "/massban: Discord's bulk ban asks for it",
        Permission.VIEW_AUDIT_LOG: "settling actions a crash interrupted and recording "
        "actions taken in Discord's own client",
    }
    with_role = {n.permission for n in guild_needs(GuildConfig(mute_role_id=MUTED))}
    assert with_role == set(default) | {Permission.MANAGE_ROLES}
    quiet = GuildConfig(disabled_features=frozenset({"ui_capture"}))
    audit = next(n for n in guild_needs(quiet) if n.permission is Permission.VIEW_AUDIT_LOG)
    assert audit.purpose == "settling actions a crash interrupted"


@pytest.mark.parametrize(
    "flags", [ApplicationFlag.GATEWAY_GUILD_MEMBERS, ApplicationFlag.GATEWAY_GUILD_MEMBERS_LIMITED]
)
def test_the_members_intent_is_enabled_by_either_flag(flags: int) -> None:
    check = intents_check({"members": "seeing members"}, flags)
    assert (check.outcome, check.detail) == (
        Outcome.PASSED,
        "Server Members Intent enabled for the application",
    )


def test_a_disabled_intent_fails_and_says_what_needs_it() -> None:
    requested = {"members": "seeing members", "message_content": "reading messages"}
    check = intents_check(requested, int(ApplicationFlag.GATEWAY_GUILD_MEMBERS))
    assert check.outcome is Outcome.FAILED
    assert check.detail == "Message Content Intent is not enabled, and reading messages needs it"
    assert check.hint is not None
    assert "Privileged Gateway Intents" in check.hint
    assert intents_check({}, 0).outcome is Outcome.PASSED


def test_everything_in_place_passes() -> None:
    facts = guild(LOCKDOWN, MODERATOR, MUTED_ROLE)
    config = GuildConfig(modlog_channel_id=5, mute_role_id=MUTED)
    modlog = ChannelFacts(5, "mod-log", ())
    check = permissions_check(facts, bot(BOT_ROLE), config, modlog)
    assert (check.outcome, check.subject, check.detail) == (
        Outcome.PASSED,
        'guild "Test" (100)',
        "has every permission its features need",
    )


def test_missing_permissions_and_broken_settings_are_listed_together() -> None:
    weak = Role(BOT_ROLE, "Lockdown", 3, int(EVERYTHING_NEEDED & ~Permission.KICK_MEMBERS))
    high_mute = Role(MUTED, "Muted", 5, 0)
    facts = guild(weak, high_mute)
    config = GuildConfig(modlog_channel_id=5, mute_role_id=MUTED)
    check = permissions_check(facts, bot(BOT_ROLE), config, ModLogChannel.GONE)
    assert check.outcome is Outcome.FAILED
    assert check.detail == (
        "missing Kick Members (for /kick); the mod-log channel (5) no longer exists; "
        "the mute role @Muted is not below Lockdown's top role, so Lockdown cannot give it"
    )
    assert check.hint == (
        "grant what is missing to Lockdown's role in Server Settings → Roles; "
        "choose another with /config modlog; "
        "move Lockdown's role above it in Server Settings → Roles"
    )


def test_a_hidden_modlog_and_a_deleted_mute_role_are_named() -> None:
    config = GuildConfig(modlog_channel_id=5, mute_role_id=MUTED)
    check = permissions_check(guild(LOCKDOWN), bot(BOT_ROLE), config, ModLogChannel.HIDDEN)
    assert check.detail == (
        f"the mod-log channel (5) is hidden from Lockdown; the mute role ({MUTED}) no longer exists"
    )


def test_roles_at_or_above_the_bots_top_role() -> None:
    level = Role(20, "Level", 3, 0)  # the same position as Lockdown's role
    admin = Role(ADMIN_ROLE, "Admin", 4, int(Permission.ADMINISTRATOR))
    facts = guild(MODERATOR, LOCKDOWN, level, admin)
    assert [r.name for r in roles_at_or_above(facts, bot(BOT_ROLE))] == ["Admin", "Level"]
    check = hierarchy_check(facts, bot(BOT_ROLE))
    assert check.outcome is Outcome.NOTED  # worth knowing, often on purpose: not a failure
    assert check.detail == (
        "@Admin, @Level sit at or above Lockdown's top role (@Lockdown): "
        "members holding them cannot be moderated by Lockdown"
    )
    # The owner outranks everyone, whatever its roles.
    owned = GuildFacts(GUILD, "Mine", BOT, facts.roles)
    assert roles_at_or_above(owned, bot(BOT_ROLE)) == []
    # Without a role of its own the bot sits at @everyone: every role is above it.
    alone = hierarchy_check(guild(MODERATOR), bot())
    assert alone.detail.startswith("@Moderator sits at or above Lockdown's top role (@everyone)")
