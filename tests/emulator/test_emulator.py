"""Proof that an unmodified discord.py client works against the emulator.

Every test drives a real discord.py `commands.Bot`/`AutoShardedBot` (defined
here, not Lockdown's bot) in-process: login, gateway READY/GUILD_CREATE,
command sync, interactions, moderation calls and Discord's refusals.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands
from discord.ext import commands

from tests.emulator import (
    ApiError,
    AuditAction,
    DiscordEmulator,
    Overwrite,
    Permission,
    StandardGuild,
)

REASON = "Spam & scams: ünïcode / 100%"

AnyBot = commands.Bot | commands.AutoShardedBot
RouteTo = Callable[[DiscordEmulator], None]


# ------------------------------------------------------------------ harness


@pytest.fixture
def route_to(monkeypatch: pytest.MonkeyPatch) -> RouteTo:
    """Point discord.py at an emulator (restored after the test)."""

    def apply(emu: DiscordEmulator) -> None:
        monkeypatch.setattr(discord.http.Route, "BASE", emu.api_base_url)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(emu.gateway_url)
        )

    return apply


@pytest_asyncio.fixture
async def emu(route_to: RouteTo) -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        route_to(emulator)
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture
def std(emu: DiscordEmulator) -> StandardGuild:
    return emu.world.build_standard_guild()


class Seen:
    """Gateway-driven events the client dispatched, as (name, guild id, user id)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []
        self.audit: list[discord.AuditLogEntry] = []
        self.errors: list[BaseException] = []

    def names(self, guild_id: int | None = None) -> list[str]:
        return [name for name, gid, _ in self.events if guild_id in (None, gid)]


async def _no_identify_spacing(shard_id: int | None, *, initial: bool = False) -> None:
    """discord.py sleeps 5 s before every non-initial IDENTIFY; tests skip that."""


_SEEN: weakref.WeakKeyDictionary[AnyBot, Seen] = weakref.WeakKeyDictionary()


def make_bot(sharded: bool = False, **options: Any) -> AnyBot:
    intents = discord.Intents.default()
    intents.members = True
    cls = commands.AutoShardedBot if sharded else commands.Bot
    bot = cls(command_prefix="!", intents=intents, guild_ready_timeout=0.05, **options)
    bot.before_identify_hook = _no_identify_spacing  # type: ignore[method-assign]
    seen = _SEEN[bot] = Seen()

    async def on_member_ban(guild: discord.Guild, user: discord.abc.User) -> None:
        seen.events.append(("ban", guild.id, user.id))

    async def on_member_unban(guild: discord.Guild, user: discord.User) -> None:
        seen.events.append(("unban", guild.id, user.id))

    async def on_member_remove(member: discord.Member) -> None:
        seen.events.append(("remove", member.guild.id, member.id))

    async def on_member_join(member: discord.Member) -> None:
        seen.events.append(("join", member.guild.id, member.id))

    async def on_member_update(before: discord.Member, after: discord.Member) -> None:
        seen.events.append(("update", after.guild.id, after.id))

    async def on_audit_log_entry_create(entry: discord.AuditLogEntry) -> None:
        seen.audit.append(entry)

    for listener in (
        on_member_ban,
        on_member_unban,
        on_member_remove,
        on_member_join,
        on_member_update,
        on_audit_log_entry_create,
    ):
        bot.add_listener(listener)

    async def on_app_command_error(
        interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        seen.errors.append(getattr(error, "original", error))

    bot.tree.on_error = on_app_command_error  # type: ignore[method-assign]
    return bot


def seen_by(bot: AnyBot) -> Seen:
    return _SEEN[bot]


class ConfirmView(discord.ui.View):
    @discord.ui.button(label="Confirm", custom_id="confirm", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.edit_message(content="Confirmed.", view=None)


class DurationView(discord.ui.View):
    @discord.ui.select(
        custom_id="duration",
        options=[discord.SelectOption(label=label) for label in ("1h", "1d", "7d")],
    )
    async def duration(
        self, interaction: discord.Interaction, select: discord.ui.Select[Any]
    ) -> None:
        await interaction.response.send_message(f"Timeout for {select.values[0]}.")


class ReportModal(discord.ui.Modal, title="Report"):
    details: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Details", custom_id="details")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Report: {self.details.value}", ephemeral=True)


def add_commands(bot: AnyBot) -> None:
    tree = bot.tree

    @tree.command(name="ban", description="Ban a member")
    @app_commands.default_permissions(ban_members=True)
    async def ban(interaction: discord.Interaction, user: discord.Member, reason: str) -> None:
        assert interaction.guild is not None
        await interaction.guild.ban(user, reason=reason, delete_message_seconds=0)
        await interaction.response.send_message(f"Banned {user.mention}.", ephemeral=True)

    @tree.command(name="warn", description="Warn a member publicly")
    async def warn(interaction: discord.Interaction, user: discord.Member, reason: str) -> None:
        embed = discord.Embed(title="Warning", description=reason)
        await interaction.response.send_message(
            f"{user.mention} has been warned.",
            embed=embed,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @tree.command(name="slow", description="Defer, then follow up")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send("Done after deferring.")
        await interaction.followup.send("Details for you only.", ephemeral=True)

    @tree.command(name="evidence", description="Reply with a file, then edit the reply")
    async def evidence(interaction: discord.Interaction) -> None:
        log = discord.File(io.BytesIO(b"user said bad things"), "log.txt")
        await interaction.response.send_message("Evidence attached.", file=log)
        original = await interaction.original_response()
        await original.edit(content="Evidence attached (reviewed).")

    @tree.command(name="confirm", description="Ask for confirmation")
    async def confirm(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Are you sure?", view=ConfirmView(), ephemeral=True)

    @tree.command(name="timeout-menu", description="Pick a timeout length")
    async def timeout_menu(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("How long?", view=DurationView())

    @tree.command(name="report", description="Open a modal")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(ReportModal())

    @tree.command(name="late", description="Answers after Discord's 3 s window")
    async def late(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        await interaction.response.send_message("too late")

    case = app_commands.Group(name="case", description="Moderation cases")
    notes = app_commands.Group(name="notes", description="Case notes", parent=case)

    @case.command(name="show", description="Show a case")
    async def show(interaction: discord.Interaction, number: app_commands.Range[int, 1]) -> None:
        await interaction.response.send_message(f"Case #{number}")

    @notes.command(name="add", description="Add a note")
    async def add_note(interaction: discord.Interaction, number: int, text: str) -> None:
        await interaction.response.send_message(f"Note on #{number}: {text}")

    tree.add_command(case)


@contextlib.asynccontextmanager
async def running(bot: AnyBot, emu: DiscordEmulator) -> AsyncIterator[AnyBot]:
    await bot.login(emu.token)
    task = asyncio.create_task(bot.connect())
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        yield bot
    finally:
        await bot.close()
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def synced_bot(emu: DiscordEmulator, std: StandardGuild) -> AsyncIterator[AnyBot]:
    bot = make_bot()
    add_commands(bot)
    async with running(bot, emu):
        guild = discord.Object(std.guild.id)
        bot.tree.copy_global_to(guild=guild)
        await bot.tree.sync(guild=guild)
        yield bot


def member(bot: AnyBot, std: StandardGuild, user_id: int) -> discord.Member:
    guild = bot.get_guild(std.guild.id)
    assert guild is not None
    found = guild.get_member(user_id)
    assert found is not None
    return found


@contextlib.contextmanager
def raises_discord(kind: type[discord.HTTPException], status: int, code: int) -> Iterator[None]:
    with pytest.raises(kind) as caught:
        yield
    assert (caught.value.status, caught.value.code) == (status, code)


# --------------------------------------------------------- gateway and login


@pytest.mark.asyncio
async def test_login_ready_and_guild_cache(emu: DiscordEmulator, std: StandardGuild) -> None:
    bot = make_bot()
    async with running(bot, emu):
        guild = bot.get_guild(std.guild.id)
        assert guild is not None
        assert guild.chunked
        assert guild.member_count == len(std.guild.members) == 7
        assert {r.name for r in guild.roles} == {
            "@everyone",
            "Member",
            "Moderator",
            "Lockdown",
            "Admin",
        }
        assert guild.me.top_role.name == "Lockdown"
        assert guild.me.guild_permissions.ban_members
        assert guild.owner_id == std.owner.id
        assert bot.user is not None
        assert bot.user.id == emu.world.bot.id
        assert emu.requests[0].path == "/users/@me"
        assert emu.requests[0].headers["Authorization"] == f"Bot {emu.token}"
        [session] = await emu.wait_for_ready()
        # discord.py negotiates zlib-stream unless a zstd binding is installed.
        assert session.connection is not None
        assert session.connection.compress in (
            "zlib-stream",
            "zstd-stream",
        )
        assert [op for op in (f.op for f in emu.gateway.received) if op == 8] == []

        # Explicit member requests go through op 8 -> GUILD_MEMBERS_CHUNK.
        members = await guild.query_members(user_ids=[std.members[0].id])
        assert [m.id for m in members] == [std.members[0].id]
        assert len(await guild.chunk()) == 7
    await emu.wait_until(lambda: not session.connected, timeout=2)
    assert not session.invalidated  # discord.py's close() sends 4000, not 1000

    # A restarted bot identifies afresh; the abandoned session stops getting events.
    async with running(make_bot(), emu):
        assert [s.invalidated for s in emu.sessions] == [True, False]
        await emu.ui_kick(std.guild, std.moderator, std.members[0])
        assert len(emu.events("GUILD_MEMBER_REMOVE")) == 1


@pytest.mark.asyncio
async def test_bad_token_is_rejected(emu: DiscordEmulator) -> None:
    bot = make_bot()
    with pytest.raises(discord.LoginFailure):
        await bot.login("not-the-token")
    await bot.close()


@pytest.mark.asyncio
async def test_resume_replays_events_missed_while_disconnected(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    bot = make_bot()
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed)
    async with running(bot, emu):
        [session] = await emu.wait_for_ready()
        await emu.drop_connections()
        await emu.ui_ban(std.guild, std.moderator, std.members[0], "while offline")
        await asyncio.wait_for(resumed.wait(), 5)
        await emu.wait_until(
            lambda: ("ban", std.guild.id, std.members[0].id) in seen_by(bot).events
        )
        assert session.resumes == 1
        assert session.connected
        assert len(emu.sessions) == 1  # resumed, not re-identified


# ------------------------------------------------------------ commands sync


@pytest.mark.asyncio
async def test_tree_sync_bulk_overwrites_guild_commands(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    async with synced_bot(emu, std) as bot:
        puts = emu.calls("PUT", r"/applications/\d+/guilds/\d+/commands")
        assert len(puts) == 1
        assert {c["name"] for c in puts[0].json} == {
            "ban",
            "warn",
            "slow",
            "confirm",
            "report",
            "late",
            "case",
            "evidence",
            "timeout-menu",
        }
        first = {
            c.name: c.id for c in await bot.tree.fetch_commands(guild=discord.Object(std.guild.id))
        }
        again = await bot.tree.sync(guild=discord.Object(std.guild.id))
        assert {c.name: c.id for c in again} == first  # ids survive a re-sync
        assert len(emu.calls("PUT", r"/applications/\d+/guilds/\d+/commands")) == 2
        assert {c.name for c in emu.synced_commands(std.guild)} == set(first)
        assert emu.synced_commands() == []
        ban = next(c for c in again if c.name == "ban")
        assert ban.default_member_permissions == discord.Permissions(ban_members=True)


# ------------------------------------------------------------- interactions


@pytest.mark.asyncio
async def test_slash_ban_is_answered_ephemerally_and_bans(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    target = std.members[0]
    async with synced_bot(emu, std) as bot:
        handle = await emu.send_slash_command(
            std.guild, std.general, std.moderator, "ban", {"user": target, "reason": REASON}
        )
        response = await handle.wait_response(timeout=3)
        assert response.type == 4
        assert response.ephemeral
        assert response.content == f"Banned <@{target.id}>."
        assert handle.response_latency is not None
        assert 0 <= handle.response_latency < 3
        assert emu.interaction_records == [handle.record]

        [call] = emu.calls("PUT", r"/guilds/\d+/bans/\d+")
        assert call.reason == REASON
        assert call.headers["X-Audit-Log-Reason"] != REASON  # discord.py URL-quotes it
        assert emu.bans(std.guild) == {target.id: REASON}
        assert target.id not in std.guild.members
        [entry] = emu.audit_log(std.guild, AuditAction.MEMBER_BAN_ADD)
        assert (entry.user_id, entry.target_id, entry.reason) == (
            emu.world.bot.id,
            target.id,
            REASON,
        )

        seen = seen_by(bot)
        await emu.wait_until(lambda: seen.audit)
        assert ("ban", std.guild.id, target.id) in seen.events
        assert ("remove", std.guild.id, target.id) in seen.events
        assert seen.audit[0].action == discord.AuditLogAction.ban
        assert seen.audit[0].reason == REASON
        guild = bot.get_guild(std.guild.id)
        assert guild is not None
        fetched = [e async for e in guild.audit_logs(action=discord.AuditLogAction.ban)]
        assert [(e.target.id, e.reason) for e in fetched if e.target] == [(target.id, REASON)]
        # The ephemeral reply is only visible to the moderator.
        assert emu.messages_in(std.general) == []
        assert emu.messages_in(std.general, include_ephemeral=True)[0].ephemeral


@pytest.mark.asyncio
async def test_command_hidden_from_users_without_default_permissions(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    async with synced_bot(emu, std):
        with pytest.raises(PermissionError):
            await emu.send_slash_command(
                std.guild,
                std.general,
                std.members[0],
                "ban",
                {"user": std.members[1], "reason": "x"},
            )
        with pytest.raises(ValueError, match="unknown options"):
            await emu.send_slash_command(
                std.guild, std.general, std.moderator, "ban", {"member": std.members[1]}
            )


@pytest.mark.asyncio
async def test_public_reply_with_embed_and_no_pings(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    async with synced_bot(emu, std):
        handle = await emu.send_slash_command(
            std.guild,
            std.general,
            std.moderator,
            "warn",
            {"user": std.members[1], "reason": "be nice"},
        )
        message = await handle.wait_final(timeout=3)
        assert not message.ephemeral
        assert message.embeds[0]["title"] == "Warning"
        assert message.allowed_mentions == {"parse": []}
        assert message.mention_user_ids == []  # mentioned in text, not pinged
        assert emu.messages_in(std.general) == [message]
        assert [d["id"] for _, d in emu.events("MESSAGE_CREATE")] == [str(message.id)]


@pytest.mark.asyncio
async def test_deferred_response_then_followup(emu: DiscordEmulator, std: StandardGuild) -> None:
    async with synced_bot(emu, std):
        handle = await emu.send_slash_command(std.guild, std.general, std.moderator, "slow")
        response = await handle.wait_response(timeout=3)
        assert response.type == 5
        final = await handle.wait_final(timeout=3)
        assert final.content == "Done after deferring."
        assert not final.loading
        # Discord turns the first follow-up after a thinking defer into the reply itself.
        assert final.id == handle.record.original_message_id
        assert emu.calls("POST", r"/webhooks/\d+/[^/]+")[0].query["wait"] == "1"
        original, extra = await handle.wait_messages(2, timeout=3)
        assert original is final
        assert extra.content == "Details for you only."
        assert extra.ephemeral


@pytest.mark.asyncio
async def test_multipart_reply_and_original_response_edit(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    async with synced_bot(emu, std):
        handle = await emu.send_slash_command(std.guild, std.general, std.moderator, "evidence")
        message = await handle.wait_final(timeout=3)
        await emu.wait_until(lambda: message.edited_at)
        assert message.content == "Evidence attached (reviewed)."
        assert message.attachments[0]["filename"] == "log.txt"
        assert message.attachments[0]["size"] == len(b"user said bad things")
        [callback] = emu.calls("POST", r"/interactions/\d+/[^/]+/callback")
        assert callback.query == {"with_response": "1"}
        assert callback.files[0]["filename"] == "log.txt"
        assert emu.calls("GET", r"/webhooks/\d+/[^/]+/messages/@original")


@pytest.mark.asyncio
async def test_button_click_updates_the_message(emu: DiscordEmulator, std: StandardGuild) -> None:
    async with synced_bot(emu, std):
        handle = await emu.send_slash_command(std.guild, std.general, std.moderator, "confirm")
        prompt = await handle.wait_final(timeout=3)
        assert prompt.ephemeral
        assert prompt.custom_ids() == ["confirm"]
        with pytest.raises(PermissionError):
            await emu.click_button(handle, "confirm", std.members[0])

        click = await emu.click_button(handle, "confirm", std.moderator)
        assert click.payload["message"]["id"] == str(prompt.id)
        response = await click.wait_response(timeout=3)
        assert response.type == 7
        assert prompt.content == "Confirmed."
        assert prompt.components == []

        menu = await emu.send_slash_command(std.guild, std.general, std.moderator, "timeout-menu")
        await menu.wait_final(timeout=3)
        picked = await emu.choose(menu, "duration", std.moderator, ["1d"])
        assert (await picked.wait_final(timeout=3)).content == "Timeout for 1d."


@pytest.mark.asyncio
async def test_subcommand_group_and_modal(emu: DiscordEmulator, std: StandardGuild) -> None:
    async with synced_bot(emu, std):
        show = await emu.send_slash_command(
            std.guild, std.general, std.moderator, "case", {"number": 12}, subcommand="show"
        )
        assert (await show.wait_final(timeout=3)).content == "Case #12"
        with pytest.raises(ValueError, match="outside"):
            await emu.send_slash_command(
                std.guild, std.general, std.moderator, "case", {"number": 0}, subcommand="show"
            )
        note = await emu.send_slash_command(
            std.guild,
            std.general,
            std.moderator,
            "case",
            {"number": 3, "text": "repeat offender"},
            group="notes",
            subcommand="add",
        )
        assert (await note.wait_final(timeout=3)).content == "Note on #3: repeat offender"

        opened = await emu.send_slash_command(std.guild, std.general, std.moderator, "report")
        assert (await opened.wait_response(timeout=3)).type == 9
        submitted = await emu.submit_modal(opened, {"details": "raid incoming"})
        reply = await submitted.wait_final(timeout=3)
        assert reply.content == "Report: raid incoming"
        assert reply.ephemeral


@pytest.mark.asyncio
async def test_late_callback_gets_unknown_interaction(route_to: RouteTo) -> None:
    async with DiscordEmulator(interaction_response_window=0.1) as emu:
        route_to(emu)
        std = emu.world.build_standard_guild()
        async with synced_bot(emu, std) as bot:
            handle = await emu.send_slash_command(std.guild, std.general, std.moderator, "late")
            errors = seen_by(bot).errors
            await emu.wait_until(lambda: errors, timeout=3)
            assert isinstance(errors[0], discord.NotFound)
            assert errors[0].code == 10062
            assert [e.code for e in handle.record.refusals] == [10062]
            with pytest.raises(TimeoutError, match="Unknown interaction"):
                await handle.wait_response(timeout=0.05)


# --------------------------------------------------------------- moderation


@pytest.mark.asyncio
async def test_kick_timeout_roles_and_unban_through_discord_py(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    alice, bob, carol = std.members
    async with synced_bot(emu, std) as bot:
        seen = seen_by(bot)
        await member(bot, std, alice.id).kick(reason="kick reason")
        assert alice.id not in std.guild.members

        await member(bot, std, bob.id).timeout(timedelta(hours=1), reason="cool off")
        until = emu.timeout_until(std.guild, bob)
        assert until is not None
        await emu.wait_until(lambda: member(bot, std, bob.id).is_timed_out())

        role = emu.world.add_role(std.guild, "Muted", 1)
        guild = bot.get_guild(std.guild.id)
        assert guild is not None
        await member(bot, std, carol.id).add_roles(discord.Object(role.id), reason="mute")
        assert role.id in std.guild.members[carol.id].role_ids

        await guild.ban(discord.Object(alice.id), reason="gone")  # not a member any more
        await guild.unban(discord.Object(alice.id), reason="appeal")
        assert emu.bans(std.guild) == {}

        actions = [(e.action_type, e.target_id, e.reason) for e in emu.audit_log(std.guild)]
        assert actions == [
            (AuditAction.MEMBER_KICK, alice.id, "kick reason"),
            (AuditAction.MEMBER_UPDATE, bob.id, "cool off"),
            (AuditAction.MEMBER_ROLE_UPDATE, carol.id, "mute"),
            (AuditAction.MEMBER_BAN_ADD, alice.id, "gone"),
            (AuditAction.MEMBER_BAN_REMOVE, alice.id, "appeal"),
        ]
        timeout_entry = emu.audit_log(std.guild)[1]
        assert timeout_entry.changes[0]["key"] == "communication_disabled_until"
        assert emu.audit_log(std.guild)[2].changes == [
            {"key": "$add", "new_value": [{"id": str(role.id), "name": "Muted"}]}
        ]
        await emu.wait_until(lambda: len(seen.audit) == 5)
        assert ("remove", std.guild.id, alice.id) in seen.events
        assert ("update", std.guild.id, bob.id) in seen.events
        assert ("unban", std.guild.id, alice.id) in seen.events


@pytest.mark.asyncio
async def test_hierarchy_and_permission_refusals(emu: DiscordEmulator, std: StandardGuild) -> None:
    admin_below_bot = emu.world.add_role(std.guild, "Helper", 2, Permission.ADMINISTRATOR)
    helper = emu.world.add_user("helper")
    emu.world.add_member(std.guild, helper, [admin_below_bot])
    async with synced_bot(emu, std) as bot:
        guild = bot.get_guild(std.guild.id)
        assert guild is not None
        with raises_discord(discord.Forbidden, 403, 50013):
            await guild.ban(discord.Object(std.admin.id), reason="above the bot")
        with raises_discord(discord.Forbidden, 403, 50013):
            await guild.kick(discord.Object(std.owner.id), reason="owner")
        with raises_discord(discord.Forbidden, 403, 50013):
            await member(bot, std, helper.id).timeout(timedelta(minutes=5))
        with raises_discord(discord.Forbidden, 403, 50013):
            await member(bot, std, std.members[0].id).add_roles(discord.Object(std.admin_role.id))
        with raises_discord(discord.NotFound, 404, 10026):
            await guild.unban(discord.Object(std.members[0].id))
        with raises_discord(discord.NotFound, 404, 10007):
            await guild.fetch_member(emu.world.add_user("stranger").id)
        with raises_discord(discord.NotFound, 404, 10013):
            await guild.ban(discord.Object(1234), reason="nobody")

        std.bot_role.permissions &= ~Permission.BAN_MEMBERS
        with raises_discord(discord.Forbidden, 403, 50013):
            await guild.ban(discord.Object(std.members[0].id))
        assert emu.bans(std.guild) == {}
        assert emu.audit_log(std.guild) == []


@pytest.mark.asyncio
async def test_timeout_cap_and_reason_length(emu: DiscordEmulator, std: StandardGuild) -> None:
    async with synced_bot(emu, std) as bot:
        target = member(bot, std, std.members[0].id)
        with raises_discord(discord.HTTPException, 400, 50035):
            await target.timeout(timedelta(days=29), reason="too long")
        with raises_discord(discord.HTTPException, 400, 50035):
            await target.kick(reason="x" * 513)
        await target.timeout(timedelta(days=28) - timedelta(seconds=5))
        assert emu.timeout_until(std.guild, target.id) is not None


@pytest.mark.asyncio
async def test_bulk_ban_limits_and_partial_failure(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    async with synced_bot(emu, std) as bot:
        guild = bot.get_guild(std.guild.id)
        assert guild is not None
        too_many = [discord.Object(emu.world.add_user(f"raider{i}").id) for i in range(201)]
        with raises_discord(discord.HTTPException, 400, 50035):
            await guild.bulk_ban(too_many)

        result = await guild.bulk_ban(
            [discord.Object(std.members[0].id), discord.Object(std.admin.id), *too_many[:3]],
            reason="raid",
        )
        assert {u.id for u in result.banned} == {std.members[0].id, *(u.id for u in too_many[:3])}
        assert [u.id for u in result.failed] == [std.admin.id]
        assert len(emu.audit_log(std.guild, AuditAction.MEMBER_BAN_ADD)) == 4

        with raises_discord(discord.Forbidden, 403, 500000):
            await guild.bulk_ban([discord.Object(std.members[0].id)])  # already banned


# ----------------------------------------------------------------- messages


@pytest.mark.asyncio
async def test_dm_and_channel_posting_rules(emu: DiscordEmulator, std: StandardGuild) -> None:
    closed = std.members[0]
    closed.dm_open = False
    outsider = emu.world.add_user("outsider")
    async with synced_bot(emu, std) as bot:
        dm_target = await bot.fetch_user(std.members[1].id)
        await dm_target.send("You were warned.")
        assert [m.content for m in emu.dms_to(std.members[1])] == ["You were warned."]

        for user in (closed, outsider):
            fetched = await bot.fetch_user(user.id)
            with raises_discord(discord.Forbidden, 403, 50007):
                await fetched.send("hello")

        log = bot.get_channel(std.mod_log.id)
        assert isinstance(log, discord.TextChannel)
        await log.send(embed=discord.Embed(title="Case 1"))
        std.mod_log.bot_can_send = False
        with raises_discord(discord.Forbidden, 403, 50013):
            await log.send("blocked")
        std.mod_log.bot_can_send = True
        std.mod_log.overwrites.append(Overwrite(std.bot_role.id, 0, deny=Permission.EMBED_LINKS))
        with raises_discord(discord.Forbidden, 403, 50013):
            await log.send(embed=discord.Embed(title="no embeds"))
        std.mod_log.overwrites.append(Overwrite(std.guild.id, 0, deny=Permission.VIEW_CHANNEL))
        with raises_discord(discord.Forbidden, 403, 50001):
            await log.send("hidden")
        with raises_discord(discord.HTTPException, 400, 50035):
            await bot.get_channel(std.general.id).send("x" * 2001)  # type: ignore[union-attr]
        assert [m.embeds[0]["title"] for m in emu.messages_in(std.mod_log)] == ["Case 1"]


# ----------------------------------------------------------- fault injection


@pytest.mark.asyncio
async def test_fail_next_forbidden_then_server_error_retry(
    emu: DiscordEmulator, std: StandardGuild
) -> None:
    async with synced_bot(emu, std) as bot:
        guild = bot.get_guild(std.guild.id)
        assert guild is not None
        target = discord.Object(std.members[0].id)
        emu.fail_next("PUT", r"/guilds/\d+/bans/\d+", 403)
        with raises_discord(discord.Forbidden, 403, 50013):
            await guild.ban(target, reason="first try")
        assert emu.bans(std.guild) == {}

        # discord.py retries a 500 after sleeping 1 s; the retry succeeds.
        emu.fail_next("PUT", r"/guilds/\d+/bans/\d+", 500)
        started = time.monotonic()
        await guild.ban(target, reason="second try")
        assert time.monotonic() - started >= 1
        assert [r.status for r in emu.calls("PUT", r"/guilds/\d+/bans/\d+")] == [403, 500, 204]
        assert emu.bans(std.guild) == {std.members[0].id: "second try"}

        # A 429 is obeyed (retry_after) and retried.
        emu.fail_next("DELETE", r"/guilds/\d+/bans/\d+", 429, retry_after=0.05)
        await guild.unban(target)
        assert [r.status for r in emu.calls("DELETE", r"/guilds/\d+/bans/\d+")] == [429, 204]


@pytest.mark.asyncio
async def test_raw_rest_errors(emu: DiscordEmulator, std: StandardGuild) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{emu.api_base_url}/guilds/{std.guild.id}/bans/{std.members[0].id}"
        async with http.put(url) as response:
            assert response.status == 401
        headers = {"Authorization": f"Bot {emu.token}"}
        async with http.get(f"{emu.api_base_url}/nope", headers=headers) as response:
            assert (response.status, await response.json()) == (
                404,
                {"message": "404: Not Found", "code": 0},
            )
        emu.fail_next("*", r"/gateway/bot", 500, times=None)
        for _ in range(2):
            async with http.get(f"{emu.api_base_url}/gateway/bot", headers=headers) as response:
                assert response.status == 500
        emu.clear_faults()
        emu.add_latency(0.2, "GET", "/gateway")
        started = time.monotonic()
        async with http.get(f"{emu.api_base_url}/gateway") as response:
            assert response.status == 200
        assert time.monotonic() - started >= 0.2
        async with http.get(f"{emu.api_base_url}/gateway/bot", headers=headers) as response:
            body = await response.json()
            assert body["url"] == emu.gateway_url
            assert body["session_start_limit"]["max_concurrency"] == 1


@pytest.mark.asyncio
async def test_current_user_guilds_are_listed_by_id_in_pages(emu: DiscordEmulator) -> None:
    owner = emu.world.add_user("owner")
    joined = sorted(emu.world.add_guild(owner, f"g{i}").id for i in range(3))
    emu.world.add_guild(owner, "without the bot", with_bot=False)
    admin = emu.world.add_guild(emu.world.bot, "owned by the bot")
    joined.append(admin.id)

    client = discord.Client(intents=discord.Intents.none())
    await client.login(emu.token)
    try:
        listed = [g async for g in client.fetch_guilds(limit=None)]
    finally:
        await client.close()
    assert [g.id for g in listed] == joined

    headers = {"Authorization": f"Bot {emu.token}"}
    url = f"{emu.api_base_url}/users/@me/guilds"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(url, params={"limit": 2}) as response:
            first = await response.json()
        async with http.get(url, params={"limit": 2, "after": first[-1]["id"]}) as response:
            second = await response.json()
        async with http.get(url, params={"before": joined[1], "with_counts": "true"}) as response:
            before = await response.json()
        async with http.get(url, params={"limit": 201}) as response:
            assert response.status == 400
    assert [int(g["id"]) for g in first + second] == joined
    assert (second[-1]["owner"], second[-1]["permissions"]) == (True, str((1 << 53) - 1))
    assert first[0]["owner"] is False
    assert int(first[0]["permissions"]) & Permission.VIEW_CHANNEL
    assert [(int(g["id"]), g["approximate_member_count"]) for g in before] == [(joined[0], 2)]


@pytest.mark.asyncio
async def test_rest_reads_and_message_lifecycle(emu: DiscordEmulator, std: StandardGuild) -> None:
    async with synced_bot(emu, std) as bot:
        guild = bot.get_guild(std.guild.id)
        assert guild is not None
        assert {r.name for r in await guild.fetch_roles()} == {r.name for r in guild.roles}
        assert {c.id for c in await guild.fetch_channels()} == set(std.guild.channels)
        members = [m async for m in guild.fetch_members(limit=None)]
        assert {m.id for m in members} == set(std.guild.members)
        fetched = await bot.fetch_guild(std.guild.id)
        assert fetched.approximate_member_count == 7

        channel = await bot.fetch_channel(std.general.id)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("first", file=discord.File(io.BytesIO(b"x"), "x.txt"))
        again = await channel.fetch_message(sent.id)
        assert again.attachments[0].filename == "x.txt"
        await again.edit(content="edited")
        assert emu.world.messages[sent.id].content == "edited"
        assert [m.content async for m in channel.history(limit=5)] == ["edited"]
        await again.delete()
        with raises_discord(discord.NotFound, 404, 10008):
            await channel.fetch_message(sent.id)
        with raises_discord(discord.NotFound, 404, 10003):
            await bot.fetch_channel(123)

        await guild.ban(discord.Object(std.members[0].id), reason="listed")
        ban = await guild.fetch_ban(discord.Object(std.members[0].id))
        assert (ban.user.id, ban.reason) == (std.members[0].id, "listed")
        assert [b.user.id async for b in guild.bans()] == [std.members[0].id]


@pytest.mark.asyncio
async def test_human_ui_actions_reach_the_bot(emu: DiscordEmulator, std: StandardGuild) -> None:
    spammer, quiet, other = std.members
    async with synced_bot(emu, std) as bot:
        seen = seen_by(bot)
        contents: list[str] = []

        async def on_message(message: discord.Message) -> None:
            contents.append(message.content)

        bot.add_listener(on_message)
        await emu.user_says(std.general, spammer, "buy cheap nitro")
        await emu.user_says(std.general, spammer, f"<@{emu.world.bot.id}> help")
        # Without the MESSAGE_CONTENT intent Discord blanks content not mentioning the bot.
        await emu.wait_until(lambda: len(contents) == 2)
        assert contents == ["", f"<@{emu.world.bot.id}> help"]

        await emu.ui_ban(std.guild, std.moderator, spammer, "spam", delete_message_seconds=3600)
        assert emu.messages_in(std.general) == []
        assert emu.events("MESSAGE_DELETE_BULK")

        await emu.ui_timeout(std.guild, std.moderator, quiet, timedelta(minutes=10), "shush")
        await emu.ui_kick(std.guild, std.moderator, other, "bye")
        await emu.ui_unban(std.guild, std.moderator, spammer, "second chance")
        await emu.ui_add_role(std.guild, std.owner, quiet, std.moderator_role, "promoted")
        await emu.ui_remove_role(std.guild, std.owner, quiet, std.moderator_role, "demoted")
        newcomer = emu.world.add_user("newcomer")
        await emu.member_join(std.guild, newcomer)
        await emu.member_leave(std.guild, newcomer)
        with pytest.raises(ApiError) as refused:
            await emu.ui_kick(std.guild, std.members[1], std.moderator, "not allowed")
        assert (refused.value.status, refused.value.code) == (403, 50013)

        await emu.wait_until(lambda: len(seen.audit) == 6)
        assert [(e.action, e.user.id if e.user else None) for e in seen.audit] == [
            (discord.AuditLogAction.ban, std.moderator.id),
            (discord.AuditLogAction.member_update, std.moderator.id),
            (discord.AuditLogAction.kick, std.moderator.id),
            (discord.AuditLogAction.unban, std.moderator.id),
            (discord.AuditLogAction.member_role_update, std.owner.id),
            (discord.AuditLogAction.member_role_update, std.owner.id),
        ]
        assert std.moderator_role.id not in std.guild.members[quiet.id].role_ids
        await emu.wait_until(lambda: ("remove", std.guild.id, newcomer.id) in seen.events)
        assert member(bot, std, quiet.id).is_timed_out()
        assert ("join", std.guild.id, newcomer.id) in seen.events


@pytest.mark.asyncio
async def test_privileged_intent_not_enabled_closes_4014(route_to: RouteTo) -> None:
    async with DiscordEmulator(privileged_intents=0) as emu:
        route_to(emu)
        bot = make_bot()  # asks for the members intent
        await bot.login(emu.token)
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await bot.connect()
        await bot.close()


# ------------------------------------------------------------------ sharding


@pytest.mark.asyncio
async def test_two_sharded_processes_only_get_their_guilds(route_to: RouteTo) -> None:
    async with DiscordEmulator() as emu:
        route_to(emu)
        guilds = [
            emu.world.build_standard_guild(f"Shard{i} Server", shard=(i, 4)) for i in range(4)
        ]
        first = make_bot(sharded=True, shard_ids=[0, 1], shard_count=4)
        second = make_bot(sharded=True, shard_ids=[2, 3], shard_count=4)
        async with running(first, emu), running(second, emu):
            await emu.wait_for_ready([0, 1, 2, 3])
            assert {g.id for g in first.guilds} == {guilds[0].guild.id, guilds[1].guild.id}
            assert {g.id for g in second.guilds} == {guilds[2].guild.id, guilds[3].guild.id}

            on_shard3 = guilds[3]
            await emu.ui_ban(on_shard3.guild, on_shard3.moderator, on_shard3.members[0], "raid")
            await emu.member_join(guilds[0].guild, emu.world.add_user("newcomer"))
            await emu.wait_until(
                lambda: "ban" in seen_by(second).names() and "join" in seen_by(first).names()
            )
            assert seen_by(first).names() == ["join"]
            assert "join" not in seen_by(second).names()
            [entry] = seen_by(second).audit
            assert entry.user is not None
            assert entry.user.id == on_shard3.moderator.id


@pytest.mark.asyncio
async def test_autosharded_bot_asks_gateway_bot_for_shard_count(route_to: RouteTo) -> None:
    async with DiscordEmulator(recommended_shards=2) as emu:
        route_to(emu)
        emu.world.build_standard_guild("Even Server", shard=(0, 2))
        emu.world.build_standard_guild("Odd Server", shard=(1, 2))
        bot = make_bot(sharded=True)
        async with running(bot, emu):
            assert bot.shard_count == 2
            assert len(emu.calls("GET", "/gateway/bot")) == 1
            assert sorted(s.shard_id for s in emu.sessions) == [0, 1]
            assert len(bot.guilds) == 2


@pytest.mark.asyncio
async def test_session_start_limit_and_identify_times(route_to: RouteTo) -> None:
    async with DiscordEmulator(max_concurrency=2) as emu:
        route_to(emu)
        bot = make_bot(sharded=True, shard_count=2)
        assert isinstance(bot, commands.AutoShardedBot)
        before = time.monotonic()
        async with running(bot, emu):
            limits = await bot.fetch_session_start_limits()
            assert limits.max_concurrency == 2
            sessions = sorted(emu.sessions, key=lambda s: s.shard_id)
            assert [s.shard_id for s in sessions] == [0, 1]
            # discord.py identifies the shards of one bot in order.
            assert before <= sessions[0].identified_at <= sessions[1].identified_at
            assert sessions[1].identified_at <= time.monotonic()


# ---------------------------------------------------------------- subprocess

SUBPROCESS_BOT = """
import asyncio, os
import discord, yarl
from discord.ext import commands

discord.http.Route.BASE = os.environ["EMULATOR_API"]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["EMULATOR_GATEWAY"])


class PingBot(commands.Bot):
    async def setup_hook(self):
        await self.tree.sync()


bot = PingBot(command_prefix="!", intents=discord.Intents.default())


@bot.tree.command(name="ping", description="Ping")
async def ping(interaction):
    await interaction.response.send_message("pong from a subprocess")


async def main():
    async with bot:
        await bot.start(os.environ["EMULATOR_TOKEN"])

asyncio.run(main())
"""


@pytest.mark.asyncio
async def test_bot_in_a_subprocess_over_loopback(emu: DiscordEmulator, std: StandardGuild) -> None:
    env = os.environ | {
        "EMULATOR_API": emu.api_base_url,
        "EMULATOR_GATEWAY": emu.gateway_url,
        "EMULATOR_TOKEN": emu.token,
    }
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", SUBPROCESS_BOT, env=env)
    try:
        await emu.wait_for_ready(timeout=15)
        assert [c.name for c in emu.synced_commands()] == ["ping"]  # synced in setup_hook
        handle = await emu.send_slash_command(std.guild, std.general, std.members[0], "ping")
        assert (await handle.wait_final(timeout=5)).content == "pong from a subprocess"
    finally:
        process.terminate()
        await process.wait()
