"""`RestActions` acts on Discord with a token and HTTP alone: no gateway session, no cache.

This is what the command line and the web process use; the emulator checks
that no gateway connection was ever made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import discord
import pytest

from bot.discord_side.rest import RestActions
from bot.domain.lifecycle import Action, CaseState, DiscordEntry
from bot.domain.models import Case
from bot.domain.ports import DiscordFailure, ModLogEntry
from tests.emulator import DEFAULT_TOKEN, DiscordEmulator, StandardGuild


@pytest.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        monkeypatch.setattr(discord.http.Route, "BASE", emulator.api_base_url)
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture
async def rest(emulator: DiscordEmulator) -> AsyncIterator[RestActions]:
    actions = await RestActions.login(DEFAULT_TOKEN)
    yield actions
    await actions.close()


def a_case(server: StandardGuild, target: int) -> Case:
    now = datetime.now(UTC)
    return Case(
        guild_id=server.guild.id, number=7, type=Action.BAN, target_id=target,
        moderator_id=server.moderator.id, created_at=now, reason="spam",
        expires_at=now + timedelta(days=1), state=CaseState.ACTIVE, dm_delivered=True,
        audit_log_entry_id=None, related_number=None, revoked_at=None, revoked_by=None,
        revoke_reason=None, renew_at=None, dm_channel_id=None, dm_message_id=None,
    )  # fmt: skip


async def test_actions_reach_discord_without_a_gateway_connection(
    emulator: DiscordEmulator, rest: RestActions
) -> None:
    server = emulator.world.build_standard_guild()
    member, stranger = server.members[0], server.members[1]

    sent = await rest.send_dm(member.id, "You have been warned in **Test**.")
    assert sent is not None
    await rest.ban(server.guild.id, member.id, reason="mod (1): spam", delete_message_seconds=0)
    await rest.timeout(
        server.guild.id, stranger.id, until=datetime.now(UTC) + timedelta(hours=1), reason="r"
    )
    posted = await rest.post_modlog(
        server.general.id, ModLogEntry(a_case(server, member.id), "member", "mod", True)
    )
    result = await rest.bulk_ban(
        server.guild.id, [server.members[2].id], reason="mass", delete_message_seconds=0
    )

    assert [m.content for m in emulator.dms_to(member)] == ["You have been warned in **Test**."]
    assert member.id in emulator.bans(server.guild)
    assert emulator.bans(server.guild)[member.id] == "mod (1): spam"
    assert emulator.timeout_until(server.guild, stranger) is not None
    assert posted
    assert emulator.messages_in(server.general)[-1].embeds[0]["title"] == "Case #7 · ban"
    assert result.banned == [server.members[2].id]
    assert result.failed == []

    await rest.kick(server.guild.id, stranger.id, reason="mod (1) case #9: spam")
    kick, since = (DiscordEntry.KICK,), datetime.now(UTC) - timedelta(minutes=1)
    # A busy guild: 150 more kicks after it, so it is not in the newest page of 100.
    other = emulator.world.add_user("churn")
    emulator.world.add_member(server.guild, other)
    for _ in range(150):
        emulator.moderation.kick(server.guild.id, server.moderator.id, other.id, "noise")
        emulator.moderation.member_join(server.guild.id, other.id)
    assert await rest.in_audit_log(server.guild.id, stranger.id, kick, "case #9:", since=since)
    for user, kinds, marker in (
        (stranger, kick, "case #10:"),
        (member, kick, "case #9:"),
        (stranger, (DiscordEntry.BAN, DiscordEntry.ROLES), "case #9:"),
    ):
        assert not await rest.in_audit_log(server.guild.id, user.id, kinds, marker, since=since)
    later = datetime.now(UTC) + timedelta(minutes=5)  # only entries made after `since` count
    assert not await rest.in_audit_log(server.guild.id, stranger.id, kick, "case #9:", since=later)
    assert await rest.delete_dm(sent)
    assert emulator.dms_to(member) == []  # taken back
    await rest.unban(server.guild.id, member.id, reason="mod (1): appeal accepted")
    assert member.id not in emulator.bans(server.guild)
    assert emulator.sessions == []  # REST alone: no gateway session was ever opened


async def test_discord_refusals_become_domain_failures(
    emulator: DiscordEmulator, rest: RestActions
) -> None:
    server = emulator.world.build_standard_guild()
    with pytest.raises(DiscordFailure) as refused:
        await rest.unban(server.guild.id, server.members[0].id, reason="not banned")
    assert (refused.value.status, refused.value.code) == (404, 10026)  # Unknown Ban
    assert not await rest.post_alert(999_999_999_999_999_999, "nowhere")  # unknown channel
