"""Start-up: compose settings, database and the Discord client in one place."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.discord_side.client import LockdownBot
from bot.logs import configure_logging
from bot.settings import Settings
from db import migrate
from db.engine import Database

log = logging.getLogger(__name__)


def point_at_discord(settings: Settings) -> None:
    """Route REST and gateway traffic to the configured endpoints.

    discord.py reads both from class attributes; `commands.Bot` connects to
    `DEFAULT_GATEWAY` without asking `GET /gateway/bot`, so both are set
    before login. Defaults are Discord itself; proxies and the test emulator
    set their own.
    """
    Route.BASE = settings.discord_api_base_url
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def run(settings: Settings) -> int:
    """Run the bot until it is stopped; the process's exit code."""
    # Until the event loop takes signals over, a SIGTERM has nothing to clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    token = settings.token()
    configure_logging(settings)
    migrate.ensure_current(settings.database_url, auto_migrate=settings.auto_migrate)
    point_at_discord(settings)
    return asyncio.run(_serve(settings, token))


async def _serve(settings: Settings, token: str) -> int:
    database = Database(settings.database_url)
    bot = LockdownBot(settings=settings, database=database)
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGTERM, signal.SIGINT):
        # Close the gateway and the pools cleanly when a supervisor stops us.
        loop.add_signal_handler(stop, lambda: asyncio.ensure_future(bot.close()))
    try:
        async with bot:
            await bot.start(token)
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN: check the token in the environment or .env")
        return 2
    finally:
        await database.dispose()
    return 0
