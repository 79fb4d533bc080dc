"""`/config` and `/feature` through the emulator: stored, audited, refused when wrong,
and honoured by the moderation commands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.lifecycle import Action
from bot.domain.models import Change
from db.engine import Database
from tests.e2e.conftest import Members
from tests.e2e.harness import cases_once
from tests.emulator import DiscordEmulator, Message, StandardGuild, User

pytestmark = pytest.mark.usefixtures("bot")


async def admin_runs(
    emulator: DiscordEmulator,
    server: StandardGuild,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    subcommand: str | None = None,
    group: str | None = None,
    by: User | None = None,
    check_permissions: bool = True,
) -> Message:
    handle = await emulator.send_slash_command(
        server.guild,
        server.general,
        by or server.admin,
        name,
        options or {},
        subcommand=subcommand,
        group=group,
        check_permissions=check_permissions,
    )
    reply = await handle.wait_final(timeout=15)
    assert reply.ephemeral
    return reply


async def latest_audit(database: Database, server: StandardGuild) -> Change | None:
    async with database.autocommit() as uow:
        newest = await uow.changes.recent(server.guild.id, limit=1)
    return newest[0] if newest else None


async def test_show_lists_defaults_then_changes(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database
) -> None:
    shown = await admin_runs(emulator, server, "config", subcommand="show")
    fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
    assert fields["Mod log"] == "not set"
    assert fields["Warnings expire after"] == "never"
    assert "escalation: on" in fields["Features"]

    reply = await admin_runs(
        emulator, server, "config", {"channel": server.mod_log}, subcommand="modlog"
    )
    assert reply.content == f"Cases will be announced in <#{server.mod_log.id}>."
    entry = await latest_audit(bot_database, server)
    assert entry is not None
    assert (entry.action, entry.entity_id, entry.actor_id) == (
        "config.set",
        "modlog_channel_id",
        server.admin.id,
    )
    assert (entry.before, entry.after) == (None, {"value": server.mod_log.id})

    shown = await admin_runs(emulator, server, "config", subcommand="show")
    fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
    assert fields["Mod log"] == f"<#{server.mod_log.id}>"


async def test_settings_the_bot_cannot_use_are_refused(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database
) -> None:
    before = await latest_audit(bot_database, server)
    muted = next(c for c in emulator.world.channels.values() if c.name == "read-only"
                 and c.guild_id == server.guild.id)  # fmt: skip
    refused = await admin_runs(emulator, server, "config", {"channel": muted}, subcommand="modlog")
    assert refused.content.startswith(f"I can't post in <#{muted.id}>: I need")

    refused = await admin_runs(
        emulator, server, "config", {"role": server.admin_role}, subcommand="mute-role"
    )
    assert refused.content.startswith(f"<@&{server.admin_role.id}> is not below my highest role")
    refused = await admin_runs(
        emulator, server, "config", {"duration": "forever"}, subcommand="warn-expiry"
    )
    assert "is not a duration" in refused.content
    assert await latest_audit(bot_database, server) == before  # nothing was stored


async def test_retention_is_set_shown_and_audited(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database
) -> None:
    reply = await admin_runs(emulator, server, "config", {"days": 90}, subcommand="retention")
    assert reply.content == (
        "If I leave this server, its cases and settings are deleted after 90 days."
    )
    entry = await latest_audit(bot_database, server)
    assert entry is not None
    assert (entry.action, entry.entity_id, entry.actor_id, entry.after) == (
        "config.set",
        "retention_days",
        server.admin.id,
        {"value": 90},
    )
    shown = await admin_runs(emulator, server, "config", subcommand="show")
    fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
    assert fields["Data kept after leaving"] == "90 days"

    # Discord's client enforces the option's range, so the bot is never asked.
    for days in (0, 366):
        with pytest.raises(ValueError, match=r"outside \[1, 365\]"):
            await admin_runs(emulator, server, "config", {"days": days}, subcommand="retention")
    assert await latest_audit(bot_database, server) == entry
    await admin_runs(emulator, server, "config", {"key": "retention_days"}, subcommand="reset")


async def test_dm_switches_and_appeal_text_shape_what_members_hear(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    quiet, told = members.take(), members.take()
    await admin_runs(
        emulator, server, "config", {"action": "kick", "enabled": False}, subcommand="dm-notify"
    )
    await admin_runs(
        emulator, server, "config", {"text": "Appeal at https://appeal.example"},
        subcommand="appeal",
    )  # fmt: skip
    await admin_runs(emulator, server, "kick", {"member": quiet}, by=server.moderator)
    assert emulator.dms_to(quiet) == []

    await admin_runs(emulator, server, "ban", {"user": told}, by=server.moderator)
    assert "Appeal at https://appeal.example" in emulator.dms_to(told)[0].content
    await admin_runs(emulator, server, "config", {"key": "dm_on_kick"}, subcommand="reset")


async def test_warn_expiry_applies_to_new_warnings(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    reply = await admin_runs(
        emulator, server, "config", {"duration": "1d"}, subcommand="warn-expiry"
    )
    assert reply.content == "New warnings stop counting after 1d."
    await admin_runs(
        emulator, server, "warn", {"member": target, "reason": "x"}, by=server.moderator
    )
    async with bot_database.autocommit() as uow:
        [case] = await uow.cases.history(server.guild.id, target.id)
    assert case.expires_at is not None
    assert case.expires_at - case.created_at == timedelta(days=1)
    await admin_runs(emulator, server, "config", {"duration": "off"}, subcommand="warn-expiry")


async def test_moderator_roles_and_reset(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database
) -> None:
    role = server.member_role
    added = await admin_runs(
        emulator, server, "config", {"role": role}, group="moderator-role", subcommand="add"
    )
    assert added.content.startswith(f"<@&{role.id}> is now a moderator role")
    assert (
        "Discord shows these commands only to members with the matching permission. "
        "To let a moderator role without it use them, open Server Settings → Integrations → "
        "Lockdown, choose the command, and add the role (or allow it for all commands)."
    ) in added.content
    again = await admin_runs(
        emulator, server, "config", {"role": role}, group="moderator-role", subcommand="add"
    )
    assert again.content == f"<@&{role.id}> is already a moderator role."
    shown = await admin_runs(emulator, server, "config", subcommand="show")
    fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
    assert fields["Moderator roles"] == f"<@&{role.id}>"

    await admin_runs(
        emulator, server, "config", {"role": role}, group="moderator-role", subcommand="remove"
    )
    entry = await latest_audit(bot_database, server)
    assert entry is not None
    assert (entry.before, entry.after) == ({"value": [role.id]}, {"value": []})

    reset = await admin_runs(emulator, server, "config", {"key": "appeal_text"}, subcommand="reset")
    assert reset.content == "`appeal_text` is back to its default."
    entry = await latest_audit(bot_database, server)
    assert entry is not None
    assert (entry.action, entry.before, entry.after) == (
        "config.reset",
        {"value": "Appeal at https://appeal.example"},
        None,
    )


async def test_features_switch_behaviour_off_and_on(
    emulator: DiscordEmulator,
    server: StandardGuild,
    members: Members,
    bot_database: Database,
) -> None:
    listed = await admin_runs(emulator, server, "feature", subcommand="list")
    assert "**ui_capture** (on)" in listed.content

    await admin_runs(emulator, server, "feature", {"name": "ui_capture"}, subcommand="disable")
    entry = await latest_audit(bot_database, server)
    assert entry is not None
    assert (entry.action, entry.entity_id, entry.before, entry.after) == (
        "feature.set",
        "ui_capture",
        {"enabled": True},
        {"enabled": False},
    )
    ignored, recorded = members.take(), members.take()
    await emulator.ui_kick(server.guild, server.admin, ignored)
    await admin_runs(emulator, server, "feature", {"name": "ui_capture"}, subcommand="enable")
    await emulator.ui_kick(server.guild, server.admin, recorded)

    seen = await cases_once(bot_database, server, recorded, 1)
    async with bot_database.autocommit() as uow:  # recorded after `ignored`, in order
        skipped = await uow.cases.history(server.guild.id, ignored.id)
    assert [c.type for c in seen] == [Action.KICK]
    assert skipped == []


async def test_only_server_managers_see_config(
    emulator: DiscordEmulator, server: StandardGuild
) -> None:
    """Discord hides commands behind default_member_permissions (Manage Server)."""
    with pytest.raises(PermissionError):
        await emulator.send_slash_command(
            server.guild, server.general, server.moderator, "config", subcommand="show"
        )


async def test_policies_escalate_warnings_through_discord(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    added = await admin_runs(
        emulator, server, "policy", {"threshold": 2, "action": "mute", "duration": "1h"},
        subcommand="add",
    )  # fmt: skip
    assert added.content.startswith("Added **#")
    assert "at 2 warnings: mute for 1h" in added.content
    refused = await admin_runs(
        emulator, server, "policy", {"threshold": 2, "action": "kick"}, subcommand="add"
    )
    assert refused.content == "there is already a policy at 2 warnings"
    listed = await admin_runs(emulator, server, "policy", subcommand="list")
    assert "at 2 warnings: mute for 1h" in listed.content

    await admin_runs(
        emulator, server, "warn", {"member": target, "reason": "1"}, by=server.moderator
    )
    second = await admin_runs(
        emulator, server, "warn", {"member": target, "reason": "2"}, by=server.moderator
    )
    assert "\nEscalated: mute · case #" in second.content
    assert emulator.timeout_until(server.guild, target) is not None
    async with bot_database.autocommit() as uow:
        mute, warning, _ = await uow.cases.history(server.guild.id, target.id)
    assert (mute.type, mute.moderator_id, mute.related_number) == (
        Action.MUTE,
        emulator.world.bot.id,
        warning.number,
    )

    pardoned = await admin_runs(
        emulator, server, "pardon", {"case": warning.number}, by=server.moderator
    )
    assert f"The mute of case #{mute.number} stays in force." in pardoned.content
    assert emulator.timeout_until(server.guild, target) is not None

    policy_id = int(added.content.split("**#", 1)[1].split("**", 1)[0])
    removed = await admin_runs(emulator, server, "policy", {"id": policy_id}, subcommand="remove")
    assert removed.content.startswith(f"Removed **#{policy_id}**")


async def test_audit_recent_shows_who_changed_what(
    emulator: DiscordEmulator, server: StandardGuild
) -> None:
    await admin_runs(emulator, server, "feature", {"name": "mute_renewal"}, subcommand="disable")
    await admin_runs(emulator, server, "feature", {"name": "mute_renewal"}, subcommand="enable")
    recent = await admin_runs(emulator, server, "changes", {"limit": 2}, subcommand="recent")
    newest, older = recent.content.splitlines()
    assert f"`{server.admin.id}` **feature.set** feature `mute_renewal`" in newest
    assert '{"enabled": false} → {"enabled": true}' in newest
    assert '{"enabled": true} → {"enabled": false}' in older


async def test_moderator_roles_let_members_moderate(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    """Admins open a command to a role in Discord's Integrations settings (so Discord
    shows it); the bot then lets the role use it only while it is a moderator role."""
    helper = members.take()
    newbie = emulator.world.add_user("newbie")
    await emulator.member_join(server.guild, newbie)

    async def helper_warns() -> str:
        reply = await admin_runs(
            emulator, server, "warn", {"member": newbie, "reason": "spam"},
            by=helper, check_permissions=False,
        )  # fmt: skip
        return reply.content

    assert await helper_warns() == (
        "You need the Timeout Members permission or a moderator role to warn members."
    )
    role = server.member_role
    await admin_runs(
        emulator, server, "config", {"role": role}, group="moderator-role", subcommand="add"
    )
    assert (await helper_warns()).startswith("Warned newbie")
    await admin_runs(
        emulator, server, "config", {"role": role}, group="moderator-role", subcommand="remove"
    )
    assert (await helper_warns()).startswith("You need the Timeout Members permission")


async def test_a_mute_role_carries_mutes_longer_than_a_timeout(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    target = members.take()
    muted = next(r for r in server.guild.roles.values() if r.name == "Muted")
    set_role = await admin_runs(emulator, server, "config", {"role": muted}, subcommand="mute-role")
    assert set_role.content == f"The mute role is now <@&{muted.id}>."

    await admin_runs(
        emulator, server, "mute", {"member": target, "duration": "6w"}, by=server.moderator
    )
    assert emulator.timeout_until(server.guild, target) is None
    assert muted.id in server.guild.members[target.id].role_ids

    await admin_runs(emulator, server, "unmute", {"member": target}, by=server.moderator)
    assert muted.id not in server.guild.members[target.id].role_ids
    await admin_runs(emulator, server, "config", {"key": "mute_role_id"}, subcommand="reset")


async def test_more_refusals_leave_nothing_behind(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database
) -> None:
    before = await latest_audit(bot_database, server)
    too_long = await admin_runs(
        emulator, server, "config", {"text": "x" * 501}, subcommand="appeal"
    )
    assert too_long.content == "The appeal text must be 1 to 500 characters."
    not_one = await admin_runs(
        emulator, server, "config", {"role": server.admin_role},
        group="moderator-role", subcommand="remove",
    )  # fmt: skip
    assert not_one.content == f"<@&{server.admin_role.id}> is not a moderator role."
    unknown = await admin_runs(emulator, server, "policy", {"id": 999_999}, subcommand="remove")
    assert unknown.content == "There is no policy #999999 in this server."
    with pytest.raises(ValueError, match=r"outside \[1, 50\]"):  # Discord enforces the range
        await admin_runs(
            emulator, server, "policy", {"threshold": 0, "action": "kick"}, subcommand="add"
        )
    no_duration = await admin_runs(
        emulator, server, "policy", {"threshold": 3, "action": "mute"}, subcommand="add"
    )
    assert no_duration.content == "A mute needs a duration."
    assert await latest_audit(bot_database, server) == before


async def test_anti_nuke_stops_a_moderator_banning_too_fast(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    await admin_runs(emulator, server, "config", {"channel": server.mod_log}, subcommand="modlog")
    set_limit = await admin_runs(
        emulator, server, "config", {"actions": 2, "window": "10m"}, subcommand="anti-nuke"
    )
    assert set_limit.content == "A moderator may now ban or kick 2 members per 10m."
    # The admin has not banned or kicked through the bot in this module yet.
    first, second, third = members.take(), members.take(), members.take()
    for target in (first, second):
        done = await admin_runs(emulator, server, "kick", {"member": target}, by=server.admin)
        assert done.content.startswith("Kicked")
    refused = await admin_runs(emulator, server, "kick", {"member": third}, by=server.admin)
    assert refused.content.startswith("You have reached the limit of 2 bans and kicks in 10m")
    assert third.id in server.guild.members
    alerts = [m for m in emulator.messages_in(server.mod_log) if m.embeds
              and m.embeds[0].get("title") == "Alert"]  # fmt: skip
    assert alerts, [m.embeds for m in emulator.messages_in(server.mod_log)][-3:]
    assert "Anti-nuke" in alerts[-1].embeds[0]["description"]
    assert alerts[-1].allowed_mentions == {"parse": []}
    await admin_runs(emulator, server, "config", {"key": "antinuke_actions"}, subcommand="reset")


NO_MANAGE = "You need the Manage Server permission to change Lockdown's configuration."


async def test_a_member_without_manage_server_is_refused_even_if_discord_shows_the_commands(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database
) -> None:
    """An admin may show /config and /policy to any role under Server Settings >
    Integrations; the emulator delivers the commands regardless of
    default_member_permissions, as Discord then does. The moderator (Ban, Kick and
    Timeout Members, no Manage Server) is refused, nothing changes, and every
    refused change is in the change log."""
    mod = server.moderator

    async def moderator_runs(name: str, options: dict[str, Any] | None = None, **where: Any) -> str:
        reply = await admin_runs(
            emulator, server, name, options, by=mod, check_permissions=False, **where
        )
        return reply.content

    shown_before = await admin_runs(emulator, server, "config", subcommand="show")
    ladder_before = await admin_runs(emulator, server, "policy", subcommand="list")

    attempts: list[tuple[str, dict[str, Any], dict[str, Any], tuple[str, str]]] = [
        ("config", {"channel": server.general}, {"subcommand": "modlog"},
         ("setting", "modlog_channel_id")),
        ("config", {"role": server.member_role},
         {"group": "moderator-role", "subcommand": "add"}, ("setting", "moderator_role_ids")),
        ("config", {"action": "ban", "enabled": False}, {"subcommand": "dm-notify"},
         ("setting", "dm_on_ban")),
        ("config", {}, {"subcommand": "reset"}, ("setting", "*")),
        ("feature", {"name": "escalation"}, {"subcommand": "disable"}, ("feature", "escalation")),
        ("policy", {"threshold": 1, "action": "ban"}, {"subcommand": "add"}, ("policy", "new")),
    ]  # fmt: skip
    for name, options, where, _ in attempts:
        assert await moderator_runs(name, options, **where) == NO_MANAGE, (name, where)

    assert await moderator_runs("config", subcommand="show") == (
        "You need the Manage Server permission to see Lockdown's configuration."
    )
    assert await moderator_runs("policy", subcommand="list") == (
        "You need the Manage Server permission to see Lockdown's configuration."
    )
    assert await moderator_runs("changes", {"limit": 5}, subcommand="recent") == (
        "You need the Manage Server permission to read Lockdown's change log."
    )
    assert await moderator_runs("status") == (
        "You need the Manage Server permission to see Lockdown's status."
    )

    shown_after = await admin_runs(emulator, server, "config", subcommand="show")
    assert shown_after.embeds == shown_before.embeds
    ladder_after = await admin_runs(emulator, server, "policy", subcommand="list")
    assert ladder_after.content == ladder_before.content

    async with bot_database.autocommit() as uow:
        refused = (await uow.changes.recent(server.guild.id, limit=len(attempts)))[::-1]
    assert [(e.action, e.actor_id, (e.entity, e.entity_id)) for e in refused] == [
        ("config.refused", mod.id, target) for *_, target in attempts
    ]
    assert refused[-1].after == {"reason": NO_MANAGE, "threshold": 1, "action": "ban"}
    recent = await admin_runs(emulator, server, "changes", {"limit": 1}, subcommand="recent")
    assert f"`{mod.id}` **config.refused** policy `new`" in recent.content


async def test_cases_are_for_moderators_even_if_discord_shows_the_commands(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    """A regular member shown /case, /history, /warnings and /pardon is refused; the
    moderator reads and pardons."""
    outsider, target = members.take(), members.take()
    warned = await admin_runs(
        emulator, server, "warn", {"member": target, "reason": "spam"}, by=server.moderator
    )
    number = int(warned.content.split("case #", 1)[1].split()[0])

    async def outsider_runs(name: str, options: dict[str, Any], **where: Any) -> str:
        reply = await admin_runs(
            emulator, server, name, options, by=outsider, check_permissions=False, **where
        )
        return reply.content

    read = (
        "You need the Ban Members, Kick Members or Timeout Members permission "
        "or a moderator role to read cases."
    )
    assert await outsider_runs("case", {"number": number}, subcommand="show") == read
    assert await outsider_runs("history", {"user": target}) == read
    assert await outsider_runs("warnings", {"member": target}) == read
    change = read.replace("read cases", "change cases")
    assert await outsider_runs("pardon", {"case": number}) == change
    assert (
        await outsider_runs(
            "case", {"number": number, "new_reason": "mine now"}, subcommand="reason"
        )
        == change
    )

    shown = await admin_runs(
        emulator, server, "case", {"number": number}, subcommand="show", by=server.moderator
    )
    assert "Reason: spam" in shown.content
    pardoned = await admin_runs(emulator, server, "pardon", {"case": number}, by=server.moderator)
    assert pardoned.content.startswith(f"Pardoned case #{number} (warn)")
