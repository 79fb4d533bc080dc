"""Every moderation command through the emulator: the REST calls the bot made, the
database, the reply, the DM and the mod-log post."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.lifecycle import Action
from bot.domain.models import Case
from db.engine import Database
from tests.e2e.conftest import Members
from tests.e2e.harness import preset_guild
from tests.emulator import CallbackType, DiscordEmulator, Message, StandardGuild, User

pytestmark = pytest.mark.usefixtures("bot", "clean_faults")

MODERATION_CALLS = r"/guilds/\d+/(bans|members|bulk-ban)"


@pytest.fixture(scope="module", autouse=True)
async def modlog_configured(
    bot_database_url: str, bot_database: Database, server: StandardGuild
) -> None:
    """The guild has a mod-log channel before the bot starts."""
    # This module bans and kicks far more than a real moderator would.
    await preset_guild(
        bot_database_url,
        bot_database,
        server,
        modlog_channel_id=server.mod_log.id,
        antinuke_actions=1000,
    )


async def run(
    emulator: DiscordEmulator,
    server: StandardGuild,
    name: str,
    options: dict[str, Any],
    *,
    by: User | None = None,
    subcommand: str | None = None,
) -> Message:
    """Invoke a command as the moderator (by default) and return the settled reply."""
    handle = await emulator.send_slash_command(
        server.guild,
        server.general,
        by or server.moderator,
        name,
        options,
        subcommand=subcommand,
    )
    reply = await handle.wait_final(timeout=15)
    assert reply.ephemeral, "moderation replies are for the moderator only"
    assert reply.allowed_mentions == {"parse": []}
    return reply


async def cases_of(database: Database, server: StandardGuild, user: User) -> list[Case]:
    async with database.autocommit() as uow:
        return await uow.cases.history(server.guild.id, user.id)


def moderation_requests(emulator: DiscordEmulator, since: int) -> list[str]:
    return [
        f"{r.method} {r.path}"
        for r in emulator.requests[since:]
        if re.search(MODERATION_CALLS, r.path) and r.method != "GET"
    ]


async def modlog_post(emulator: DiscordEmulator, server: StandardGuild, number: int) -> Message:
    def find() -> Message | None:
        for message in emulator.messages_in(server.mod_log):
            if message.embeds and message.embeds[0]["title"].startswith(f"Case #{number} "):
                return message
        return None

    return await emulator.wait_until(find, timeout=10, what=f"mod-log post of case {number}")


async def test_temporary_ban_dms_first_then_bans_records_and_logs(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    start = len(emulator.requests)
    reply = await run(
        emulator,
        server,
        "ban",
        {"user": target, "duration": "1d", "reason": "raiding", "delete_messages": 3600},
    )

    assert reply.content.startswith(f"Banned {target.username} (`{target.id}`) · case #")
    assert "DM delivered" in reply.content
    assert target.id in emulator.bans(server.guild)
    paths = [f"{r.method} {r.path}" for r in emulator.requests[start:]]
    dm = next(i for i, p in enumerate(paths) if re.match(r"POST /channels/\d+/messages", p))
    ban = next(i for i, p in enumerate(paths) if re.match(r"PUT /guilds/\d+/bans/\d+", p))
    assert dm < ban, "the DM must go out while the member can still receive it"
    ban_request = emulator.requests[start + ban]
    assert ban_request.query == {"delete_message_seconds": "3600"}

    [case] = await cases_of(bot_database, server, target)
    moderator = f"{server.moderator.username} ({server.moderator.id})"
    assert ban_request.reason == f"{moderator} case #{case.number}: raiding"
    assert (case.type, case.active, case.reason, case.dm_delivered) == (
        Action.BAN,
        True,
        "raiding",
        True,
    )
    assert case.expires_at is not None
    assert abs(case.expires_at - (case.created_at + timedelta(days=1))) < timedelta(seconds=1)
    post = await modlog_post(emulator, server, case.number)
    fields = {f["name"]: f["value"] for f in post.embeds[0]["fields"]}
    assert fields["Reason"] == "raiding"
    assert fields["DM"] == "delivered"
    assert str(target.id) in fields["Member"]
    assert "Expires" in fields


async def test_ban_by_id_of_a_user_outside_the_server(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database
) -> None:
    stranger = emulator.world.add_user("stranger")
    reply = await run(emulator, server, "ban", {"user": stranger, "reason": "alt account"})

    assert reply.content.startswith("Banned stranger")
    assert stranger.id in emulator.bans(server.guild)
    assert emulator.dms_to(stranger) == []
    [case] = await cases_of(bot_database, server, stranger)
    assert (case.type, case.expires_at, case.dm_delivered) == (Action.BAN, None, None)


async def test_banning_again_updates_the_ban(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    await run(emulator, server, "ban", {"user": target, "duration": "2h", "reason": "first"})
    reply = await run(emulator, server, "ban", {"user": target, "reason": "for good"})

    newer, older = await cases_of(bot_database, server, target)
    assert f"replaces case #{older.number}" in reply.content
    assert (older.active, newer.active, newer.related_number) == (False, True, older.number)
    assert newer.expires_at is None


async def test_kick(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    reply = await run(emulator, server, "kick", {"member": target, "reason": "cool off"})

    assert reply.content.startswith(f"Kicked {target.username}")
    assert target.id not in server.guild.members
    [case] = await cases_of(bot_database, server, target)
    assert (case.type, case.active) == (Action.KICK, False)
    assert "kicked from" in emulator.dms_to(target)[0].content


async def test_mute_then_unmute(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    before = datetime.now(UTC)
    await run(emulator, server, "mute", {"member": target, "duration": "1h30m", "reason": "caps"})

    until = emulator.timeout_until(server.guild, target)
    assert until is not None
    assert before + timedelta(minutes=89) < until < before + timedelta(minutes=91)

    reply = await run(emulator, server, "unmute", {"member": target})
    assert reply.content.startswith("Removed the timeout of")
    assert emulator.timeout_until(server.guild, target) is None
    unmute, mute = await cases_of(bot_database, server, target)
    assert (mute.type, mute.active, unmute.type) == (Action.MUTE, False, Action.UNMUTE)
    assert unmute.related_number == mute.number


async def test_a_mute_longer_than_discord_allows_is_capped(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    await run(emulator, server, "mute", {"member": target, "duration": "6w"})
    until = emulator.timeout_until(server.guild, target)
    assert until is not None
    assert until < datetime.now(UTC) + timedelta(days=28)
    [case] = await cases_of(bot_database, server, target)
    assert case.expires_at is not None
    assert case.expires_at - case.created_at == timedelta(weeks=6)


async def test_softban_and_unban(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    softbanned, banned = members.take(), members.take()
    await run(emulator, server, "softban", {"member": softbanned, "reason": "spam bot"})
    assert softbanned.id not in emulator.bans(server.guild)
    assert softbanned.id not in server.guild.members

    await run(emulator, server, "ban", {"user": banned})
    reply = await run(emulator, server, "unban", {"user": banned, "reason": "appeal accepted"})
    assert reply.content.startswith("Unbanned")
    assert banned.id not in emulator.bans(server.guild)
    unban, ban = await cases_of(bot_database, server, banned)
    assert (unban.type, unban.related_number, ban.active) == (Action.UNBAN, ban.number, False)


async def test_note_is_recorded_quietly(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    reply = await run(emulator, server, "note", {"user": target, "text": "watch their links"})
    assert reply.content.startswith("Noted on")
    assert emulator.dms_to(target) == []
    [case] = await cases_of(bot_database, server, target)
    assert (case.type, case.reason) == (Action.NOTE, "watch their links")


@pytest.mark.parametrize(
    ("command", "who", "actor", "expected"),
    [
        ("kick", "admin", "moderator", "You can only kick members whose highest role is below"),
        ("ban", "owner", "moderator", "You can't ban the server owner."),
        ("kick", "moderator", "moderator", "You can't kick yourself."),
        ("kick", "bot", "moderator", "I won't kick myself."),
        ("mute", "admin", "owner", "My highest role must be above the member's highest role"),
    ],
)
async def test_pre_flight_refusals_make_no_discord_request(
    emulator: DiscordEmulator,
    server: StandardGuild,
    bot_database: Database,
    command: str,
    who: str,
    actor: str,
    expected: str,
) -> None:
    target: User = getattr(server, who)
    key = {"kick": "member", "ban": "user", "mute": "member"}[command]
    options: dict[str, Any] = {key: target}
    if command == "mute":
        options["duration"] = "1h"
    start = len(emulator.requests)

    reply = await run(emulator, server, command, options, by=getattr(server, actor))

    assert reply.content.startswith(expected)
    assert moderation_requests(emulator, start) == []
    assert await cases_of(bot_database, server, target) == []


async def test_discord_refusing_records_nothing(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    emulator.fail_next("PUT", r"/guilds/\d+/bans/\d+", 403, 50013, "Missing Permissions")

    reply = await run(emulator, server, "ban", {"user": target, "reason": "x"})

    assert reply.content.startswith("Discord refused to ban them")
    assert target.id not in emulator.bans(server.guild)
    assert await cases_of(bot_database, server, target) == []


async def test_a_passing_discord_error_is_retried(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    emulator.fail_next("DELETE", rf"/guilds/\d+/members/{target.id}$", 500)

    reply = await run(emulator, server, "kick", {"member": target})

    assert reply.content.startswith("Kicked")
    assert len(emulator.calls("DELETE", rf"/guilds/\d+/members/{target.id}$")) == 2
    assert [c.type for c in await cases_of(bot_database, server, target)] == [Action.KICK]


async def test_bad_durations_get_a_clear_message(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    target = members.take()
    start = len(emulator.requests)
    for text, message in [
        ("soon", "`soon` is not a duration"),
        ("5s", "too short"),
        ("300w", "too long"),
    ]:
        reply = await run(emulator, server, "mute", {"member": target, "duration": text})
        assert message in reply.content
    assert moderation_requests(emulator, start) == []


async def test_mentions_in_a_reason_ping_nobody(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    reason = f"@everyone @here <@&{server.moderator_role.id}> <@{server.owner.id}> look"
    await run(emulator, server, "warn", {"member": target, "reason": reason})

    [case] = await cases_of(bot_database, server, target)
    assert case.reason == reason
    post = await modlog_post(emulator, server, case.number)
    assert post.allowed_mentions == {"parse": []}
    [dm] = emulator.dms_to(target)
    assert dm.allowed_mentions == {"parse": []}


async def test_warnings_and_pardon(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    await run(emulator, server, "warn", {"member": target, "reason": "first"})
    await run(emulator, server, "warn", {"member": target, "reason": "second"})
    listed = await run(emulator, server, "warnings", {"member": target})
    assert listed.content.startswith(f"{target.username} has 2 active warning(s):")
    assert "first" in listed.content
    assert "second" in listed.content

    _second, first = await cases_of(bot_database, server, target)
    pardoned = await run(emulator, server, "pardon", {"case": first.number, "reason": "mistake"})
    assert pardoned.content.startswith(f"Pardoned case #{first.number} (warn)")

    listed = await run(emulator, server, "warnings", {"member": target})
    assert listed.content.startswith(f"{target.username} has 1 active warning(s):")
    assert "first" not in listed.content
    again = await run(emulator, server, "pardon", {"case": first.number})
    assert again.content == f"Case #{first.number} is no longer in force."


async def test_case_show_and_reason_edit(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    await run(emulator, server, "note", {"user": target, "text": "typo'd reasn"})
    [case] = await cases_of(bot_database, server, target)

    edited = await run(
        emulator, server, "case", {"number": case.number, "new_reason": "fixed reason"},
        subcommand="reason",
    )  # fmt: skip
    assert edited.content == f"Updated the reason of case #{case.number}."
    shown = await run(emulator, server, "case", {"number": case.number}, subcommand="show")
    assert f"**#{case.number}** note" in shown.content
    assert "Reason: fixed reason" in shown.content
    async with bot_database.autocommit() as uow:
        [entry] = [e for e in await uow.changes.recent(server.guild.id, limit=50)
                   if e.entity_id == str(case.number)]  # fmt: skip
    assert (entry.action, entry.before, entry.after) == (
        "case.reason",
        {"reason": "typo'd reasn"},
        {"reason": "fixed reason"},
    )
    missing = await run(emulator, server, "case", {"number": 99_999}, subcommand="show")
    assert missing.content == "case #99999 does not exist in this server"


async def test_history_pages_with_buttons(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    target = members.take()
    for index in range(12):
        await run(emulator, server, "note", {"user": target, "text": f"note {index}"})

    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "history", {"user": target}
    )
    first = await handle.wait_final(timeout=10)
    assert "1 to 10 of 12, newest first" in first.content
    assert "note 11" in first.content
    assert "note 1\n" not in first.content

    older = await emulator.click_button(first, first.custom_ids()[1], server.moderator)
    await older.wait_response(timeout=10)
    page = emulator.world.messages[first.id]
    assert "11 to 12 of 12" in page.content
    assert "note 0" in page.content

    newer = await emulator.click_button(first, first.custom_ids()[0], server.moderator)
    await newer.wait_response(timeout=10)
    assert "1 to 10 of 12" in emulator.world.messages[first.id].content


async def test_massban_confirms_then_bans_in_chunks_of_two_hundred(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    strangers = [emulator.world.add_user(f"raider{i}") for i in range(240)]
    member = members.take()
    ids = [u.id for u in strangers] + [member.id, server.admin.id]
    start = len(emulator.requests)
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "massban",
        {"users": ", ".join(map(str, ids)), "reason": "raid"},
    )  # fmt: skip
    prompt = await handle.wait_final(timeout=10)
    assert prompt.content.startswith("Ban **242** users?")
    assert moderation_requests(emulator, start) == []

    await emulator.click_button(prompt, prompt.custom_ids()[0], server.moderator)
    result = await emulator.wait_until(
        lambda: (m := emulator.world.messages[prompt.id]).content.startswith("Banned") and m,
        timeout=20,
        what="the mass ban result",
    )
    assert result.content.startswith("Banned 241 of 242 users; 1 failed.")
    assert f"`{server.admin.id}`: You can only ban members whose highest role" in result.content
    chunks = [r for r in emulator.requests[start:] if r.path.endswith("/bulk-ban")]
    assert [len(c.json["user_ids"]) for c in chunks] == [200, 41]
    assert chunks[0].reason == f"{server.moderator.username} ({server.moderator.id}): raid"
    banned = emulator.bans(server.guild)
    assert all(u.id in banned for u in strangers)
    assert member.id in banned
    assert server.admin.id not in banned
    for user in (strangers[0], strangers[-1], member):
        [case] = await cases_of(bot_database, server, user)
        assert (case.type, case.active, case.reason) == (Action.BAN, True, "raid")


async def test_massban_refuses_garbage_can_be_cancelled_and_cools_down(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    """Run by the admin: the moderator's /massban cooldown is running from the test above."""
    target = members.take()
    refused = await run(
        emulator, server, "massban", {"users": f"{target.id} everyone"}, by=server.admin
    )
    assert refused.content == "`everyone` is not a user id or mention."

    # Bad input cost nothing, not even the cooldown.
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.admin, "massban", {"users": str(target.id)}
    )
    prompt = await handle.wait_final(timeout=10)
    await emulator.click_button(prompt, prompt.custom_ids()[1], server.admin)
    await emulator.wait_until(
        lambda: emulator.world.messages[prompt.id].content == "Mass ban cancelled.", timeout=10
    )
    assert target.id not in emulator.bans(server.guild)

    again = await run(emulator, server, "massban", {"users": str(target.id)}, by=server.admin)
    assert re.fullmatch(
        r"`/massban` is cooling down for you in this server; try again in (2\d|30)s\.",
        again.content,
    )
    assert emulator.world.messages[prompt.id].content == "Mass ban cancelled."


async def test_a_closed_dm_never_blocks_a_kick(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    target.dm_open = False
    reply = await run(emulator, server, "kick", {"member": target, "reason": "x"})
    assert reply.content.endswith("DM not delivered")
    assert target.id not in server.guild.members
    [case] = await cases_of(bot_database, server, target)
    assert case.dm_delivered is False
    post = await modlog_post(emulator, server, case.number)
    assert {f["name"]: f["value"] for f in post.embeds[0]["fields"]}["DM"] == (
        "not delivered (DMs closed)"
    )


async def test_discord_failing_after_its_retries_records_nothing(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    """discord.py tries a 5xx five times before giving up (25 s of back-off, which
    the test launcher scales down); the moderator has been told "thinking" all
    along and then hears why nothing happened."""
    target = members.take()
    kick = rf"/guilds/\d+/members/{target.id}$"
    emulator.fail_next("DELETE", kick, 502, times=None)

    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "kick", {"member": target}
    )
    reply = await handle.wait_final(timeout=60)

    assert reply.ephemeral
    assert reply.content == (
        "Discord is having trouble right now; nothing was done. Try again shortly."
    )
    assert handle.callback is not None
    assert handle.callback.type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert len(emulator.calls("DELETE", kick)) == 5  # discord.py's tries, all failed
    assert target.id in server.guild.members
    assert await cases_of(bot_database, server, target) == []
