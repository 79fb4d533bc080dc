"""`/changes recent`: Lockdown's change log, who changed what from what to what."""

from __future__ import annotations

import json

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.limits import cut
from bot.domain.models import Change
from bot.services.container import Services
from cogs._adapters import actor, reply
from cogs._render import Reply, paged, paginate

#: How much of a before or after value a line shows.
VALUE_SHOWN = 120
#: Entity ids are short (a setting key, a case number); a cap keeps a line one line.
ENTITY_SHOWN = 100


def describe(entry: Change) -> str:
    def show(value: object) -> str:
        return "—" if value is None else cut(json.dumps(value, ensure_ascii=False), VALUE_SHOWN)

    stamp = f"<t:{int(entry.created_at.timestamp())}:f>"
    return (
        f"{stamp} `{entry.actor_id}` **{entry.action}** {entry.entity} "
        f"`{cut(entry.entity_id, ENTITY_SHOWN)}`: {show(entry.before)} → {show(entry.after)}"
    )


def recent_changes(entries: list[Change]) -> Reply:
    """`/changes recent`: whole entries, as many pages as they need, newest first."""
    if not entries:
        return Reply(content="Nothing has been changed yet.")
    total = len(entries)

    def heading(first: int, last: int) -> str:
        if (first, last) == (1, total):
            return ""  # one page: the entries alone
        return f"Changes {first} to {last} of {total}, newest first:"

    return paged(paginate([describe(e) for e in entries], heading))


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
        entries = await self.services.changes.recent(
            interaction.guild.id, limit, actor=actor(interaction)
        )
        await reply(interaction, recent_changes(entries), ephemeral=True)
