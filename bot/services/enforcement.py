"""How punishments are enforced on Discord, and lifted.

A mute is a native timeout or the guild's mute role: Discord caps a timeout
below 28 days, so a longer mute either renews its timeout (the timer loop does
that) or, if the guild configured a mute role, wears the role instead, which
needs no renewal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.config import GuildConfig
from bot.domain.lifecycle import Action
from bot.domain.models import Case
from bot.domain.ports import DiscordActions, DiscordFailure, SentDm

#: Discord rejects a timeout of 28 days or more; stay clear of clock drift.
MAX_TIMEOUT = timedelta(days=28) - timedelta(hours=1)
#: A longer mute's timeout is renewed this long before it would lapse.
RENEW_BEFORE = timedelta(days=1)


def uses_role(config: GuildConfig, expires_at: datetime, now: datetime) -> bool:
    return config.mute_role_id is not None and expires_at > now + MAX_TIMEOUT


def first_renewal(
    config: GuildConfig, expires_at: datetime | None, now: datetime
) -> datetime | None:
    """When a new mute's timeout must first be renewed (None: it never needs to be)."""
    if expires_at is None or expires_at <= now + MAX_TIMEOUT or uses_role(config, expires_at, now):
        return None
    return now + MAX_TIMEOUT - RENEW_BEFORE


async def impose_mute(
    discord: DiscordActions,
    config: GuildConfig,
    guild_id: int,
    user_id: int,
    *,
    expires_at: datetime,
    now: datetime,
    reason: str,
) -> None:
    """Mute until `expires_at` (or as far towards it as a timeout reaches)."""
    if uses_role(config, expires_at, now):
        assert config.mute_role_id is not None
        await discord.add_role(guild_id, user_id, config.mute_role_id, reason=reason)
    else:
        until = min(expires_at, now + MAX_TIMEOUT)
        await discord.timeout(guild_id, user_id, until=until, reason=reason)


async def lift_mute(
    discord: DiscordActions, config: GuildConfig, guild_id: int, user_id: int, *, reason: str
) -> None:
    """End a mute however it was enforced (both calls are harmless if not needed)."""
    await discord.timeout(guild_id, user_id, until=None, reason=reason)
    if config.mute_role_id is not None:
        await discord.remove_role(guild_id, user_id, config.mute_role_id, reason=reason)


async def lift(discord: DiscordActions, config: GuildConfig, case: Case, *, reason: str) -> None:
    """Undo a ban or mute on Discord (an expiry, a pardon); other cases have nothing to lift.

    A 404 means it is already gone (unbanned meanwhile, or the member left),
    which is what lifting wants: only other failures raise `DiscordFailure`.
    """
    try:
        if case.type is Action.BAN:
            await discord.unban(case.guild_id, case.target_id, reason=reason)
        elif case.type is Action.MUTE:
            await lift_mute(discord, config, case.guild_id, case.target_id, reason=reason)
    except DiscordFailure as failure:
        if failure.status != 404:
            raise


async def take_back_dm(discord: DiscordActions, case: Case, sent: SentDm | None) -> None:
    """A DM announced an action that did not happen: delete it, or, if it cannot be
    deleted, tell the member to ignore it. Without its ids (a crash came before they
    were stored) it is found by the case number its text carries."""
    if sent is None and case.dm_channel_id and case.dm_message_id:
        sent = SentDm(case.dm_channel_id, case.dm_message_id)
    if sent is None:
        sent = await discord.find_dm(case.target_id, f"(case #{case.number})")
    if sent is not None and not await discord.delete_dm(sent):
        await discord.send_dm(
            case.target_id,
            f"Correction: the {case.type.value} in case #{case.number} did not go "
            "through; please ignore the previous message.",
        )
