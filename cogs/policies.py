"""`/policy`: the escalation ladder admins build from warnings."""

from __future__ import annotations

from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.durations import format_duration, parse_duration
from bot.domain.lifecycle import Action
from bot.domain.models import EscalationPolicy
from bot.services.container import Services
from bot.services.policies import MAX_THRESHOLD
from cogs._adapters import CaseNumber, actor, reply
from cogs._render import Reply, paged, paginate

ACTIONS = [app_commands.Choice(name=a, value=a) for a in ("mute", "kick", "ban")]


def describe(policy: EscalationPolicy) -> str:
    what = policy.action.value
    if policy.duration_seconds:
        what += f" for {format_duration(timedelta(seconds=policy.duration_seconds))}"
    within = ""
    if policy.window_seconds:
        within = f" within {format_duration(timedelta(seconds=policy.window_seconds))}"
    return f"**#{policy.id}** at {policy.threshold} warnings{within}: {what}"


def ladder_list(ladder: list[EscalationPolicy]) -> Reply:
    """`/policy list`: every rung, in pages when the ladder is long."""
    if not ladder:
        return Reply(content="No escalation policies.")
    total = len(ladder)

    def heading(first: int, last: int) -> str:
        return "" if (first, last) == (1, total) else f"Policies {first} to {last} of {total}:"

    pages = paginate([describe(p) for p in ladder], heading)
    return paged(pages, back="Previous", forward="Next")


class Policies(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    policy = app_commands.Group(
        name="policy",
        description="Automatic actions when warnings add up",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @policy.command(name="add", description="Add a rung to the escalation ladder")
    @app_commands.describe(
        threshold="Active warnings that trigger it",
        action="What to do",
        duration="How long (mutes and temporary bans), like 1h or 7d",
        window="Count only warnings from this long ago, like 30d",
    )
    @app_commands.choices(action=ACTIONS)
    async def add(
        self,
        interaction: discord.Interaction,
        threshold: app_commands.Range[int, 1, MAX_THRESHOLD],
        action: str,
        duration: str | None = None,
        window: str | None = None,
    ) -> None:
        assert interaction.guild is not None
        added = await self.services.policies.add(
            interaction.guild.id,
            threshold=threshold,
            action=Action(action),
            duration=parse_duration(duration) if duration else None,
            window=parse_duration(window) if window else None,
            actor=actor(interaction),
        )
        await reply(interaction, f"Added {describe(added)}.", ephemeral=True)

    @policy.command(name="list", description="The escalation ladder")
    async def list_(self, interaction: discord.Interaction) -> None:
        assert interaction.guild is not None
        ladder = await self.services.policies.list(interaction.guild.id, actor=actor(interaction))
        await reply(interaction, ladder_list(ladder), ephemeral=True)

    @policy.command(name="remove", description="Remove a rung")
    @app_commands.describe(id="The policy number from /policy list")
    async def remove(self, interaction: discord.Interaction, id: CaseNumber) -> None:
        assert interaction.guild is not None
        removed = await self.services.policies.remove(
            interaction.guild.id, id, actor=actor(interaction)
        )
        await reply(interaction, f"Removed {describe(removed)}.", ephemeral=True)
