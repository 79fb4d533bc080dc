"""Mutes, with Discord's native timeout."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.durations import parse_duration
from bot.domain.lifecycle import Action
from bot.services.container import Services
from cogs._actions import run_action


class Mutes(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(description="Time a member out")
    @app_commands.describe(
        member="Member to mute", duration="How long, like 30m or 2d", reason="Why"
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(moderate_members=True)
    async def mute(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        duration: str,
        reason: str | None = None,
    ) -> None:
        await run_action(
            interaction,
            self.services,
            Action.MUTE,
            member,
            reason=reason,
            duration=parse_duration(duration),
        )

    @app_commands.command(description="End a member's timeout")
    @app_commands.describe(member="Member to unmute", reason="Why")
    @app_commands.guild_only()
    @app_commands.default_permissions(moderate_members=True)
    async def unmute(
        self, interaction: discord.Interaction, member: discord.Member, reason: str | None = None
    ) -> None:
        await run_action(interaction, self.services, Action.UNMUTE, member, reason=reason)
