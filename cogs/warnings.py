"""Warnings and pardons."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.lifecycle import Action
from bot.domain.models import Case
from bot.services.acting import Outcome
from bot.services.container import Services
from cogs._actions import run_action
from cogs._adapters import CaseNumber, actor, describe, name_of, reply
from cogs._render import Reply, fit_lines, paged, paginate


def warnings_list(who: str, active: list[Case]) -> Reply:
    """`/warnings`: the warnings that still count, newest first, ten to a page."""
    if not active:
        return Reply(content=f"{who} has no active warnings.")
    total = len(active)

    def heading(first: int, last: int) -> str:
        head = f"{who} has {total} active warning(s):"
        return head if (first, last) == (1, total) else f"{head} {first} to {last}, newest first"

    return paged(paginate([describe(case) for case in active], heading))


def pardon_reply(number: int, outcome: Outcome) -> str:
    pardoned = outcome.replaced
    assert pardoned is not None
    lines = [f"Pardoned case #{number} ({pardoned.type.value}) · case #{outcome.case.number}"]
    lines += [
        f"The {c.type.value} of case #{c.number} stays in force." for c in outcome.still_in_force
    ]
    return fit_lines(lines)[0]


class Warnings(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(description="Warn a member")
    @app_commands.describe(member="Member to warn", reason="Why")
    @app_commands.guild_only()
    @app_commands.default_permissions(moderate_members=True)
    async def warn(
        self, interaction: discord.Interaction, member: discord.Member, reason: str
    ) -> None:
        await run_action(interaction, self.services, Action.WARN, member, reason=reason)

    @app_commands.command(description="List a member's warnings that still count")
    @app_commands.describe(member="Member to look up")
    @app_commands.guild_only()
    @app_commands.default_permissions(moderate_members=True)
    async def warnings(self, interaction: discord.Interaction, member: discord.User) -> None:
        assert interaction.guild is not None
        active = await self.services.cases.active_warnings(
            interaction.guild.id, member.id, actor=actor(interaction)
        )
        await reply(interaction, warnings_list(name_of(member), active), ephemeral=True)

    @app_commands.command(description="Revoke a warning, or end a ban or mute early")
    @app_commands.describe(case="Case number", reason="Why")
    @app_commands.guild_only()
    @app_commands.default_permissions(moderate_members=True)
    async def pardon(
        self,
        interaction: discord.Interaction,
        case: CaseNumber,
        reason: str | None = None,
    ) -> None:
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)  # may call Discord
        outcome = await self.services.pardons.pardon(
            interaction.guild.id,
            case,
            actor=actor(interaction),
            actor_name=str(interaction.user),
            reason=reason,
        )
        await reply(interaction, pardon_reply(case, outcome), ephemeral=True)
