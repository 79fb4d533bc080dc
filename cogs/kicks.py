"""Kicks."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.lifecycle import Action
from bot.services.container import Services
from cogs._actions import run_action


class Kicks(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(description="Remove a member from the server")
    @app_commands.describe(member="Member to kick", reason="Why")
    @app_commands.guild_only()
    @app_commands.default_permissions(kick_members=True)
    async def kick(
        self, interaction: discord.Interaction, member: discord.Member, reason: str | None = None
    ) -> None:
        await run_action(interaction, self.services, Action.KICK, member, reason=reason)
