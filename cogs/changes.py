"""`/changes recent`: Lockdown's change log, who changed what from what to what."""

from __future__ import annotations

import json

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.models import Change
from bot.services.container import Services
from cogs._adapters import reply


def describe(entry: Change) -> str:
    def show(value: object) -> str:
        return "—" if value is None else json.dumps(value, ensure_ascii=False)[:120]

    stamp = f"<t:{int(entry.created_at.timestamp())}:f>"
    return (
        f"{stamp} `{entry.actor_id}` **{entry.action}** {entry.entity} `{entry.entity_id}`: "
        f"{show(entry.before)} → {show(entry.after)}"
    )


class ChangeLog(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    changes = app_commands.Group(
        name="changes",
        description="Who changed settings and cases, from what to what",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @changes.command(name="recent", description="The newest changes in this server")
    @app_commands.describe(limit="How many (1 to 25)")
    async def recent(
        self, interaction: discord.Interaction, limit: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        assert interaction.guild is not None
        entries = await self.services.changes.recent(interaction.guild.id, limit)
        text = "\n".join(describe(e) for e in entries) or "Nothing has been changed yet."
        await reply(interaction, text[:2000], ephemeral=True)
