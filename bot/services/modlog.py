"""The mod-log channel: where every case is announced, if the guild set one."""

from __future__ import annotations

from bot.domain.models import Case
from bot.domain.ports import DiscordActions, ModLogEntry
from bot.services.config import ConfigService
from bot.services.names import NameBook


class ModLog:
    def __init__(self, config: ConfigService, discord: DiscordActions, names: NameBook) -> None:
        self._config = config
        self._discord = discord
        self._names = names

    async def alert(self, guild_id: int, text: str) -> bool:
        """Warn the moderators in the mod-log channel about something that is not a case."""
        channel_id = (await self._config.get(guild_id)).modlog_channel_id
        if channel_id is None:
            return False
        return await self._discord.post_alert(channel_id, text)

    async def post(
        self,
        case: Case,
        *,
        dm_delivered: bool | None = None,
        note: str | None = None,
        target_name: str | None = None,
        moderator_name: str | None = None,
    ) -> bool:
        """Announce a case; False when no channel is configured or the post failed.

        Names not given are looked up, so entries written by timers,
        reconciliation and mass bans name people too.
        """
        channel_id = (await self._config.get(case.guild_id)).modlog_channel_id
        if channel_id is None:
            return False
        entry = ModLogEntry(
            case,
            target_name or await self._names.name(case.target_id),
            moderator_name or await self._names.name(case.moderator_id),
            dm_delivered,
            note,
        )
        return await self._discord.post_modlog(channel_id, entry)
