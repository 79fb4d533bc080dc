"""Bans: permanent or temporary, by member or by id, and softbans."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.durations import parse_duration
from bot.domain.hierarchy import Action
from bot.services.container import Services
from cogs._actions import run_action

DELETE_MESSAGES = [
    app_commands.Choice(name="don't delete any", value=0),
    app_commands.Choice(name="previous hour", value=3600),
    app_commands.Choice(name="previous 6 hours", value=6 * 3600),
    app_commands.Choice(name="previous 24 hours", value=86_400),
    app_commands.Choice(name="previous 3 days", value=3 * 86_400),
    app_commands.Choice(name="previous 7 days", value=7 * 86_400),
]


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
