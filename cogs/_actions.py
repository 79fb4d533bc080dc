"""The shared shape of an action command: build the request, run it, confirm."""

from __future__ import annotations

import logging
from datetime import timedelta

import discord

from bot.discord_side.limits import ELLIPSIS
from bot.domain.lifecycle import Action
from bot.services.acting import ActionRequest, Outcome
from bot.services.container import Services
from cogs._adapters import name_of, reply, scene
from cogs._render import fit_lines

#: Longest escalation failure line: Discord's own error text can be long.
FAILURE_LINE = 300


log = logging.getLogger(__name__)


def confirmation(action: Action, target: discord.abc.Snowflake, outcome: Outcome) -> str:
    """One line about the action, then one per escalation (every one of them is in the
    mod log too, so a long ladder is summed up rather than refused by Discord)."""
    case = outcome.case
    parts = [f"{action.kind.past_tense} {name_of(target)} (`{target.id}`) · case #{case.number}"]
    if case.expires_at is not None and action is not Action.WARN:
        parts.append(f"until <t:{int(case.expires_at.timestamp())}:f>")
    if outcome.replaced is not None:
        parts.append(f"replaces case #{outcome.replaced.number}")
    if outcome.dm_delivered is not None:
        parts.append("DM delivered" if outcome.dm_delivered else "DM not delivered")
    lines = [" · ".join(parts)]
    lines += [
        f"Escalated: {e.case.type.value} · case #{e.case.number}" for e in outcome.escalations
    ]
    lines += [f"Escalation failed: {why}" for why in outcome.escalation_failures]
    text, _ = fit_lines(
        lines,
        line_limit=FAILURE_LINE,
        more=lambda n: f"{ELLIPSIS}and {n} more escalation results; see the mod log.",
    )
    return text


async def run_action(
    interaction: discord.Interaction,
    services: Services,
    action: Action,
    target: discord.abc.Snowflake,
    *,
    reason: str | None,
    duration: timedelta | None = None,
    delete_message_seconds: int = 0,
) -> Outcome:
    guild = interaction.guild
    assert guild is not None
    # Discord wants an answer within 3 seconds, and its own API may be slower
    # than that (discord.py retries 5xx responses for up to ~25 s), so answer
    # "thinking" now; the confirmation or the error follows, for the moderator only.
    await interaction.response.defer(ephemeral=True, thinking=True)
    outcome = await services.moderation.act(
        ActionRequest(
            guild_id=guild.id,
            guild_name=guild.name,
            action=action,
            scene=scene(interaction, target),
            actor_name=str(interaction.user),
            target_name=name_of(target),
            reason=reason,
            duration=duration,
            delete_message_seconds=delete_message_seconds,
        )
    )
    await confirm(interaction, action, target, outcome)
    return outcome


async def confirm(
    interaction: discord.Interaction,
    action: Action,
    target: discord.abc.Snowflake,
    outcome: Outcome,
) -> None:
    """Tell the moderator what was done. The action is done and recorded whatever
    happens here, so a failed reply never becomes "something went wrong": a short
    confirmation is tried once more, and then the failure is only logged (the mod
    log and `/case show` have the case)."""
    number = outcome.case.number
    for text in (
        confirmation(action, target, outcome),
        f"{action.kind.past_tense} {name_of(target)} · case #{number}.",
    ):
        try:
            await reply(interaction, text, ephemeral=True)
        except discord.HTTPException as error:
            log.warning("case #%s is done, but telling the moderator failed: %s", number, error)
        else:
            return
