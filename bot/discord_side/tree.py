"""The command tree: every command passes the pace check, and one place turns errors
into replies: clear text for the moderator, a traceback in the log only for bugs.

Every command is timed and counted by outcome (`command_finished`), and every
refusal no service logged is logged here (`bot.services.actionlog`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord_side.mentions import NO_MENTIONS
from bot.domain.errors import LockdownError
from bot.services import actionlog
from bot.services.throttle import Throttled

if TYPE_CHECKING:
    from bot.discord_side.client import LockdownBot

log = logging.getLogger(__name__)


class LockdownTree(app_commands.CommandTree["LockdownBot"]):
    """One place that turns errors into replies: clear text for the moderator,
    a traceback in the log only for bugs."""

    async def interaction_check(self, interaction: discord.Interaction[LockdownBot]) -> bool:
        """Every command passes the user's pace and, if it has one, its cooldown."""
        interaction.extras["started"] = time.perf_counter()
        command = interaction.command
        if interaction.guild_id is None or command is None:
            return True
        cooldown = (
            command.extras.get("cooldown") if isinstance(command, app_commands.Command) else None
        )
        try:
            await self.client.services.throttle.admit(
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                command=command.qualified_name,
                cooldown=cooldown,
            )
        except Throttled as refusal:
            raise app_commands.CheckFailure(str(refusal)) from refusal
        return True

    async def _refund_cooldown(self, interaction: discord.Interaction[LockdownBot]) -> None:
        """Bad input loses nothing, not even the time to try again."""
        command = interaction.command
        if isinstance(command, app_commands.Command) and command.extras.get("cooldown"):
            assert interaction.guild_id is not None
            await self.client.services.throttle.refund(
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                command=command.qualified_name,
            )

    async def on_error(
        self, interaction: discord.Interaction[LockdownBot], error: app_commands.AppCommandError
    ) -> None:
        cause = getattr(error, "original", None) or error.__cause__ or error
        if interaction.client.is_closed():
            # Stopping: the connection went away under the command. Its intent, if it
            # recorded one, is settled from what Discord shows at the next start.
            log.info("command /%s interrupted by shutdown", _name(interaction))
            command_finished(interaction, "interrupted")
            return
        if not isinstance(cause, Throttled):
            await self._refund_cooldown(interaction)  # a refused command did nothing
        if isinstance(cause, Throttled):
            outcome, message = "throttled", str(cause)
        elif isinstance(cause, LockdownError):
            outcome, message = "refused", str(cause)
        elif isinstance(error, app_commands.TransformerError):
            outcome = "bad_input"
            message = f"`{error.value}` is not a valid {error.type.name.lower()} here."
        elif isinstance(error, app_commands.CheckFailure):
            outcome, message = "denied", "You are not allowed to use this command here."
        else:
            outcome, message = "error", "Something went wrong on my side; the error was logged."
            log.error(
                "command /%s failed in guild %s for user %s",
                _name(interaction),
                interaction.guild_id,
                interaction.user.id,
                exc_info=error,
                extra=_facts(interaction),
            )
        command_finished(interaction, outcome)
        if outcome != "error" and not actionlog.already_logged(cause):
            actionlog.record(
                action=_name(interaction),
                outcome=outcome,
                guild=interaction.guild_id,
                actor=interaction.user.id,
                started=interaction.extras.get("started"),
                refusal=cause,
                command=_name(interaction),
            )
        send = (
            interaction.followup.send
            if interaction.response.is_done()
            else interaction.response.send_message
        )
        try:
            await send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not tell %s about an error: %s", interaction.user, message)


def _name(interaction: discord.Interaction[LockdownBot]) -> str:
    return interaction.command.qualified_name if interaction.command else "?"


def _facts(interaction: discord.Interaction[LockdownBot]) -> dict[str, object]:
    return {
        "command": _name(interaction),
        "guild": interaction.guild_id,
        "user": interaction.user.id,
    }


def command_finished(interaction: discord.Interaction[LockdownBot], outcome: str) -> None:
    """Count a finished command and its time since it arrived (`interaction_check`)."""
    started = interaction.extras.get("started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    interaction.client.metrics.command_finished(_name(interaction), outcome, seconds)
