"""Start-up: compose settings, database and the Discord client in one place."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route
from discord.utils import MISSING

from bot.discord_side.client import LockdownBot
from bot.discord_side.operations import serve_operations
from bot.logs import configure_logging
from bot.settings import Settings
from db import migrate
from db.engine import Database, blame_database, describe

log = logging.getLogger(__name__)

#: A failed login is tried again after 1 s, then 2, 4... up to a minute apart.
LOGIN_RETRY_FIRST_SECONDS = 1.0
LOGIN_RETRY_MAX_SECONDS = 60.0
#: Discord unreachable (refused, unresolvable, timed out) or answering 5xx.
DISCORD_UNAVAILABLE = (aiohttp.ClientError, discord.DiscordServerError)


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
    log.info("using %s", describe(settings.database_url))
    with blame_database(settings.database_url):
        migrate.ensure_current(settings.database_url, auto_migrate=settings.auto_migrate)
    point_at_discord(settings)
    return asyncio.run(_serve(settings, token))


async def _serve(settings: Settings, token: str) -> int:
    database = Database(settings.database_url)
    bot = LockdownBot(settings=settings, database=database)
    stopping = asyncio.Event()
    closing: set[asyncio.Future[None]] = set()  # held, so the task is not collected

    def stop() -> None:
        stopping.set()
        closing.add(asyncio.ensure_future(bot.close()))

    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        # Close the gateway and the pools cleanly when a supervisor stops us.
        loop.add_signal_handler(signal_number, stop)
    try:
        async with bot, serve_operations(bot):  # HTTP_PORT's endpoints, if set
            if await _log_in(bot, token, stopping):
                await bot.connect()
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN: check the token in the environment or .env")
        return 2
    except DISCORD_UNAVAILABLE as error:
        log.error("Discord at %s failed while the bot was starting: %s", Route.BASE, error)
        return 1
    finally:
        await database.dispose()
    return 0


async def _log_in(bot: LockdownBot, token: str, stopping: asyncio.Event) -> bool:
    """Log in, trying again with back-off while Discord is unreachable or answers 5xx
    (discord.py would raise at once); False if the process was stopped meanwhile.

    Only Discord's part of the login is tried again: once it answered, the bot's own
    set-up (`setup_hook`) has begun, and its failures are not the network's.
    """
    delay = LOGIN_RETRY_FIRST_SECONDS
    while True:
        try:
            await bot.login(token)
            return True
        except DISCORD_UNAVAILABLE as error:
            if stopping.is_set():
                return False
            if bot.application is not None:
                raise
            if isinstance(error, discord.DiscordServerError):
                problem = f"Discord at {Route.BASE} answered {error}"
            else:
                problem = f"cannot reach Discord at {Route.BASE}: {error}"
            log.warning("%s; logging in again in %.0f s", problem, delay)
        except Exception:
            if stopping.is_set():  # stopped mid-request: the closed session fails it
                return False
            raise
        # The next login opens a new HTTP session: close this one and its connector.
        await bot.http.close()
        bot.http.connector = MISSING
        try:
            await asyncio.wait_for(stopping.wait(), delay)
            return False
        except TimeoutError:
            delay = min(delay * 2, LOGIN_RETRY_MAX_SECONDS)
