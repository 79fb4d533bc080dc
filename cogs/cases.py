"""Looking cases up, correcting their reasons, and paging through a user's history."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.limits import CONTENT, ELLIPSIS, FIELD_VALUE, add_field, cut
from bot.discord_side.mentions import NO_MENTIONS
from bot.domain.access import Participant
from bot.domain.errors import LockdownError
from bot.domain.models import Case
from bot.domain.reasons import NO_REASON
from bot.services.container import Services
from cogs._adapters import CaseNumber, actor, describe, name_of, reply
from cogs._render import Reply, TextFile

PAGE_SIZE = 10


def case_details(case: Case) -> Reply:
    """`/case show`: every detail in the content when it fits in one message.

    A reason and a pardon reason may be 1,000 characters each, more than a message
    holds together: then the content shows their start, marked as cut, and an embed
    carries both in full (a field holds 1,024), or an attached file if even that
    were too little.
    """
    reason = case.reason or NO_REASON
    ended = None
    if case.revoked_at is not None:
        ended = f"Ended <t:{int(case.revoked_at.timestamp())}:f> by `{case.revoked_by}`"

    def render(reason_text: str, revoke_text: str | None) -> str:
        lines = [
            describe(case),
            f"Member: `{case.target_id}` · Moderator: `{case.moderator_id}`",
            f"Reason: {reason_text}",
        ]
        if case.related_number is not None:
            lines.append(f"Related: case #{case.related_number}")
        if case.dm_delivered is not None:
            lines.append("DM: " + ("delivered" if case.dm_delivered else "not delivered"))
        if ended is not None:
            lines.append(ended + (f": {revoke_text}" if revoke_text is not None else ""))
        return "\n".join(lines)

    revoke_reason = case.revoke_reason or None
    full = render(reason, revoke_reason)
    if len(full) <= CONTENT:
        return Reply(content=full)
    # Share what is left between the two texts; one that needs less leaves the rest.
    room = CONTENT - len(render("", "" if revoke_reason else None))
    texts = [reason, revoke_reason or ""]
    budgets = [room // 2, room - room // 2]
    for index in (0, 1):
        spare = budgets[index] - len(texts[index])
        if spare > 0:
            budgets[index] -= spare
            budgets[1 - index] += spare
    marker = f"{ELLIPSIS} (cut; full text below)"
    reply = Reply(
        content=render(
            cut(reason, budgets[0], marker),
            cut(revoke_reason, budgets[1], marker) if revoke_reason else None,
        )
    )
    embed = discord.Embed(title=f"Case #{case.number} in full", colour=discord.Colour.blurple())
    whole = [("Reason", reason)]
    if revoke_reason:
        whole.append(("Why it ended", revoke_reason))
    in_file = f"{ELLIPSIS} (cut; full text in case-{case.number}.txt)"
    for name, text in whole:
        add_field(embed, name, text, inline=False, marker=in_file)
    reply.embeds.append(embed)
    if any(len(text) > FIELD_VALUE for _, text in whole):
        reply.files.append(
            TextFile(f"case-{case.number}.txt", "\n\n".join(f"{n}:\n{t}" for n, t in whole))
        )
    return reply


class HistoryPages(discord.ui.View):
    """Older/Newer buttons over a user's cases, on the asking moderator's ephemeral reply."""

    def __init__(self, services: Services, guild_id: int, user: discord.abc.User) -> None:
        super().__init__(timeout=600)
        self.services, self.guild_id, self.user = services, guild_id, user
        self.starts: list[int | None] = [None]  # the `before` cursor of each page seen

    async def render(self, asker: Participant) -> str:
        """The page shown to `asker`, whose access is checked again on every click."""
        page, total = await self.services.cases.history(
            self.guild_id,
            self.user.id,
            actor=asker,
            limit=PAGE_SIZE,
            before=self.starts[-1],
        )
        self.newer.disabled = len(self.starts) == 1
        self.older.disabled = len(page) < PAGE_SIZE or page[-1].number == 1
        self._last = page[-1].number if page else None
        if not page:
            return f"{name_of(self.user)} has no cases here."
        shown = (len(self.starts) - 1) * PAGE_SIZE
        header = (
            f"Cases for {name_of(self.user)} (`{self.user.id}`): "
            f"{shown + 1} to {shown + len(page)} of {total}, newest first"
        )
        return "\n".join([header, *(describe(case) for case in page)])

    @discord.ui.button(label="Newer", style=discord.ButtonStyle.secondary)
    async def newer(
        self, interaction: discord.Interaction, _: discord.ui.Button[HistoryPages]
    ) -> None:
        self.starts.pop()
        await interaction.response.edit_message(
            content=await self.render(actor(interaction)), view=self
        )

    @discord.ui.button(label="Older", style=discord.ButtonStyle.secondary)
    async def older(
        self, interaction: discord.Interaction, _: discord.ui.Button[HistoryPages]
    ) -> None:
        self.starts.append(self._last)
        await interaction.response.edit_message(
            content=await self.render(actor(interaction)), view=self
        )

    async def on_error(
        self,
        interaction: discord.Interaction,
        error: Exception,
        item: discord.ui.Item[HistoryPages],
    ) -> None:
        """A refusal (the clicker may no longer read cases) replaces the page."""
        if not isinstance(error, LockdownError):
            await super().on_error(interaction, error, item)
            error = LockdownError("Something went wrong on my side; the error was logged.")
        self.stop()
        if interaction.response.is_done():
            await interaction.edit_original_response(content=cut(str(error), CONTENT), view=None)
        else:
            await interaction.response.edit_message(content=cut(str(error), CONTENT), view=None)


class Cases(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    case = app_commands.Group(
        name="case",
        description="Look up or correct a case",
        guild_only=True,
        default_permissions=discord.Permissions(moderate_members=True),
    )

    @case.command(name="show", description="Show one case")
    @app_commands.describe(number="Case number")
    async def show(self, interaction: discord.Interaction, number: CaseNumber) -> None:
        assert interaction.guild is not None
        case = await self.services.cases.case(
            interaction.guild.id, number, actor=actor(interaction)
        )
        await reply(interaction, case_details(case), ephemeral=True)

    @case.command(name="reason", description="Change a case's reason (the old one is audited)")
    @app_commands.describe(number="Case number", new_reason="The corrected reason")
    async def reason(
        self,
        interaction: discord.Interaction,
        number: CaseNumber,
        new_reason: str,
    ) -> None:
        assert interaction.guild is not None
        case = await self.services.cases.edit_reason(
            interaction.guild.id, number, new_reason, actor=actor(interaction)
        )
        await reply(interaction, f"Updated the reason of case #{case.number}.", ephemeral=True)

    @app_commands.command(description="A user's cases in this server, newest first")
    @app_commands.describe(user="Member or user id")
    @app_commands.guild_only()
    @app_commands.default_permissions(moderate_members=True)
    async def history(self, interaction: discord.Interaction, user: discord.User) -> None:
        assert interaction.guild is not None
        view = HistoryPages(self.services, interaction.guild.id, user)
        await interaction.response.send_message(
            await view.render(actor(interaction)),
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
