"""Turning interactions into plain values for services, and outcomes into replies."""

from __future__ import annotations

import discord

from bot.discord_side.mentions import NO_MENTIONS
from bot.domain.hierarchy import Participant, Scene
from bot.domain.lifecycle import CaseState
from bot.domain.models import Case
from bot.domain.reasons import NO_REASON


def participant(member: discord.Member) -> Participant:
    return Participant(
        id=member.id,
        top_role_position=member.top_role.position,
        permissions=member.guild_permissions.value,
        role_ids=frozenset(role.id for role in member.roles),
    )


def scene(interaction: discord.Interaction, target: discord.abc.Snowflake) -> Scene:
    """Everyone involved; a target who is not a member has no roles to compare."""
    guild = interaction.guild
    assert guild is not None
    assert isinstance(interaction.user, discord.Member)
    member = target if isinstance(target, discord.Member) else guild.get_member(target.id)
    return Scene(
        owner_id=guild.owner_id or 0,
        actor=participant(interaction.user),
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
    reason = case.reason or NO_REASON
    if len(reason) > 80:
        reason = reason[:79] + "…"
    return f"**#{case.number}** {case.type.value} · {stamp}{state} · {reason}"


async def reply(interaction: discord.Interaction, content: str, *, ephemeral: bool = False) -> None:
    """Answer the interaction (or follow up if it was already answered), pinging nobody."""
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(
            content, ephemeral=ephemeral, allowed_mentions=NO_MENTIONS
        )
