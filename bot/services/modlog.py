"""The mod-log channel: where every case is announced, if the guild set one."""

from __future__ import annotations

from bot.domain.ports import ModerationGateway, ModLogEntry
from bot.services.config import ConfigService


class ModLog:
    def __init__(self, config: ConfigService, gateway: ModerationGateway) -> None:
        self._config = config
        self._gateway = gateway

    async def alert(self, guild_id: int, text: str) -> bool:
        """Warn the moderators in the mod-log channel about something that is not a case."""
        channel_id = (await self._config.get(guild_id)).modlog_channel_id
        if channel_id is None:
            return False
        return await self._gateway.post_alert(channel_id, text)

    async def post(self, guild_id: int, entry: ModLogEntry) -> bool:
        """Announce a case; False when no channel is configured or the post failed."""
        channel_id = (await self._config.get(guild_id)).modlog_channel_id
        if channel_id is None:
            return False
        return await self._gateway.post_modlog(channel_id, entry)
