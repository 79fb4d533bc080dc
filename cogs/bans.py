"""Bans: permanent or temporary, by member or by id, and softbans."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.limits import CONTENT, ELLIPSIS, cut
from bot.discord_side.mentions import NO_MENTIONS
from bot.domain.durations import parse_duration
from bot.domain.errors import LockdownError
from bot.domain.lifecycle import Action
from bot.domain.targets import parse_user_ids
from bot.services.container import Services
from bot.services.massban import MassBanOutcome, MassBanRequest
from cogs._actions import run_action
from cogs._adapters import actor, participant
from cogs._render import Reply, TextFile, fit_lines

DELETE_MESSAGES = [
    app_commands.Choice(name="don't delete any", value=0),
    app_commands.Choice(name="previous hour", value=3600),
    app_commands.Choice(name="previous 6 hours", value=6 * 3600),
    app_commands.Choice(name="previous 24 hours", value=86_400),
    app_commands.Choice(name="previous 3 days", value=3 * 86_400),
    app_commands.Choice(name="previous 7 days", value=7 * 86_400),
]


#: Failures the result lists by name; all of them are in the attached file.
FAILURES_SHOWN = 15
FAILURES_FILE = "massban-failures.txt"


def massban_result(count: int, outcome: MassBanOutcome) -> Reply:
    """The summary, the first failures, and every failure in a file when not all show."""
    head = [f"Banned {len(outcome.banned)} of {count} users; {len(outcome.failed)} failed."]
    if outcome.banned:
        head.append(f"Cases #{outcome.banned[0].number} to #{outcome.banned[-1].number}.")
    header = "\n".join(head)
    failures = [f"`{user}`: {why}" for user, why in outcome.failed.items()]
    if not failures:
        return Reply(content=header)
    shown, left_out = fit_lines(
        failures,
        CONTENT - len(header) - 1,
        max_lines=FAILURES_SHOWN,
        more=lambda n: f"{ELLIPSIS}and {n} more; every failure is in {FAILURES_FILE}.",
    )
    reply = Reply(content=f"{header}\n{shown}")
    if left_out:
        listing = "\n".join(f"{user}\t{why}" for user, why in outcome.failed.items())
        reply.files.append(TextFile(FAILURES_FILE, f"user id\twhy\n{listing}\n"))
    return reply


class MassBanConfirmation(discord.ui.View):
    """Nothing is banned until the moderator confirms the count."""

    def __init__(self, services: Services, request: MassBanRequest) -> None:
        super().__init__(timeout=300)
        self.services = services
        self.request = request

    @discord.ui.button(label="Ban them", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, _: discord.ui.Button[MassBanConfirmation]
    ) -> None:
        count = len(self.request.targets)
        await interaction.response.edit_message(content=f"Banning {count} users…", view=None)
        outcome = await self.services.massban.massban(self.request)
        result = massban_result(count, outcome)
        await interaction.edit_original_response(
            **result.edit_kwargs(), allowed_mentions=NO_MENTIONS
        )
        self.stop()

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction, _: discord.ui.Button[MassBanConfirmation]
    ) -> None:
        await interaction.response.edit_message(content="Mass ban cancelled.", view=None)
        self.stop()

    async def on_error(
        self,
        interaction: discord.Interaction,
        error: Exception,
        item: discord.ui.Item[MassBanConfirmation],
    ) -> None:
        if not isinstance(error, LockdownError):
            log.error(
                "the /massban confirmation failed in guild %s for user %s",
                interaction.guild_id,
                interaction.user.id,
                exc_info=error,
                extra={
                    "command": "massban",
                    "guild": interaction.guild_id,
                    "user": interaction.user.id,
                },
            )
            error = LockdownError("Something went wrong on my side; the error was logged.")
        await interaction.edit_original_response(content=cut(str(error), CONTENT), view=None)


MASSBAN_COOLDOWN_SECONDS = 30

log = logging.getLogger(__name__)


class Bans(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(description="Ban a user, for good or for a while")
    @app_commands.describe(
        user="Member or user id to ban",
        duration="How long, like 12h or 7d; leave empty for a permanent ban",
        reason="Why (shown in the case log and sent to the member)",
        delete_messages="Delete their recent messages",
    )
    @app_commands.choices(delete_messages=DELETE_MESSAGES)
    @app_commands.guild_only()
    @app_commands.default_permissions(ban_members=True)
    async def ban(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        duration: str | None = None,
        reason: str | None = None,
        delete_messages: int = 0,
    ) -> None:
        await run_action(
            interaction,
            self.services,
            Action.BAN,
            user,
            reason=reason,
            duration=parse_duration(duration) if duration else None,
            delete_message_seconds=delete_messages,
        )

    # Heavy on Discord (up to five bulk requests): once per moderator per half minute.
    @app_commands.command(
        description="Ban up to 1,000 users by id, after a confirmation",
        extras={"cooldown": MASSBAN_COOLDOWN_SECONDS},
    )
    @app_commands.describe(
        users="User ids or mentions, separated by spaces or commas",
        reason="Why (recorded on every case)",
        delete_messages="Delete their recent messages",
    )
    @app_commands.choices(delete_messages=DELETE_MESSAGES)
    @app_commands.guild_only()
    @app_commands.default_permissions(ban_members=True)
    async def massban(
        self,
        interaction: discord.Interaction,
        users: str,
        reason: str | None = None,
        delete_messages: int = 0,
    ) -> None:
        guild = interaction.guild
        assert guild is not None
        assert isinstance(interaction.user, discord.Member)
        ids = parse_user_ids(users)
        request = MassBanRequest(
            guild_id=guild.id,
            guild_name=guild.name,
            owner_id=guild.owner_id or 0,
            actor=actor(interaction),
            actor_name=str(interaction.user),
            bot=participant(guild.me),
            targets={
                user_id: participant(member) if (member := guild.get_member(user_id)) else None
                for user_id in ids
            },
            reason=reason,
            delete_message_seconds=delete_messages,
        )
        await self.services.massban.check(request)  # before asking anyone to confirm
        await interaction.response.send_message(
            f"Ban **{len(ids)}** users? This cannot be undone in one step.",
            view=MassBanConfirmation(self.services, request),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(description="Lift a ban")
    @app_commands.describe(user="User id to unban", reason="Why")
    @app_commands.guild_only()
    @app_commands.default_permissions(ban_members=True)
    async def unban(
        self, interaction: discord.Interaction, user: discord.User, reason: str | None = None
    ) -> None:
        await run_action(interaction, self.services, Action.UNBAN, user, reason=reason)

    @app_commands.command(description="Ban and unban at once, deleting a day of messages")
    @app_commands.describe(member="Member to softban", reason="Why")
    @app_commands.guild_only()
    @app_commands.default_permissions(ban_members=True)
    async def softban(
        self, interaction: discord.Interaction, member: discord.Member, reason: str | None = None
    ) -> None:
        await run_action(interaction, self.services, Action.SOFTBAN, member, reason=reason)
