"""Moderator notes: a record with no action and no DM."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.lifecycle import Action
from bot.services.container import Services
from cogs._actions import run_action


class Notes(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(description="Add a moderator-only note to a user's record")
    @app_commands.describe(user="Member or user id", text="The note")
    @app_commands.guild_only()
    @app_commands.default_permissions(moderate_members=True)
    async def note(self, interaction: discord.Interaction, user: discord.User, text: str) -> None:
        await run_action(interaction, self.services, Action.NOTE, user, reason=text)
