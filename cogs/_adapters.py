"""Turning interactions into plain values for services, and outcomes into replies."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.discord_side.limits import CONTENT, cut, one_line
from bot.discord_side.mentions import NO_MENTIONS
from bot.domain.access import Participant
from bot.domain.hierarchy import Scene
from bot.domain.lifecycle import CaseState
from bot.domain.models import Case
from bot.domain.permissions import Permission
from bot.domain.reasons import NO_REASON
from cogs._render import Reply

log = logging.getLogger(__name__)

#: Numbers the database stores (a case number or policy id is a 32-bit integer);
#: Discord would send integers up to 2**53, which PostgreSQL refuses.
CaseNumber = app_commands.Range[int, 1, 2**31 - 1]

#: How much of a reason a list line shows; `/case show` has the rest.
LIST_REASON = 80


def participant(member: discord.Member) -> Participant:
    return Participant(
        id=member.id,
        top_role_position=member.top_role.position,
        permissions=member.guild_permissions.value,
        role_ids=frozenset(role.id for role in member.roles),
    )


def actor(interaction: discord.Interaction) -> Participant:
    """The person behind an interaction (a command or a click), as the rules see them.

    Their permissions are those Discord resolved for them in the interaction's
    channel (`interaction.permissions`): what Discord itself would let them do
    there. The server owner holds everything, as Discord says too.
    """
    user = interaction.user
    permissions = interaction.permissions.value
    guild = interaction.guild
    if guild is not None and guild.owner_id == user.id:
        permissions |= Permission.ADMINISTRATOR
    if not isinstance(user, discord.Member):  # outside a guild: no roles, no rank
        return Participant(id=user.id, top_role_position=0, permissions=permissions)
    return Participant(
        id=user.id,
        top_role_position=user.top_role.position,
        permissions=permissions,
        role_ids=frozenset(role.id for role in user.roles),
    )


def scene(interaction: discord.Interaction, target: discord.abc.Snowflake) -> Scene:
    """Everyone involved; a target who is not a member has no roles to compare."""
    guild = interaction.guild
    assert guild is not None
    assert isinstance(interaction.user, discord.Member)
    member = target if isinstance(target, discord.Member) else guild.get_member(target.id)
    return Scene(
        owner_id=guild.owner_id or 0,
        actor=actor(interaction),
        bot=participant(guild.me),
        target_id=target.id,
        target=participant(member) if member is not None else None,
    )


def name_of(user: discord.abc.Snowflake) -> str:
    return str(user) if isinstance(user, discord.User | discord.Member) else str(user.id)


def describe(case: Case) -> str:
    """One line about a case, for lists."""
    stamp = f"<t:{int(case.created_at.timestamp())}:d>"
    state = ""
    if case.state is not CaseState.ACTIVE and case.state is not CaseState.CLOSED:
        state = f" · {case.state.value}"  # pending or failed
    elif case.revoked_at is not None:
        state = " · revoked"
    elif case.active and case.expires_at is not None:
        state = f" · until <t:{int(case.expires_at.timestamp())}:R>"
    elif case.active:
        state = " · active"
    elif case.expires_at is not None and case.type.kind.stays_active:
        state = " · expired"
    reason = cut(one_line(case.reason or NO_REASON), LIST_REASON)
    return f"**#{case.number}** {case.type.value} · {stamp}{state} · {reason}"


async def reply(
    interaction: discord.Interaction, message: str | Reply, *, ephemeral: bool = False
) -> None:
    """Answer the interaction (or follow up if it was already answered), pinging nobody.

    Replies are rendered to fit Discord; text that still would not fit is cut with a
    marker rather than refused by Discord, which would leave the moderator with nothing.
    """
    if isinstance(message, str):
        message = Reply(content=message)
    if len(message.content) > CONTENT:
        log.warning("a reply of %d characters was cut to fit", len(message.content))
        message.content = cut(message.content, CONTENT)
    kwargs = message.send_kwargs()
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(
            **kwargs, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS
        )
