"""`lockdown doctor`: checks a deployment from the outside, one finding at a time.

Settings, the database and its schema, Redis, the token and the privileged
intents, then every guild the bot is in: whether it holds the permissions its
configuration needs and which roles it cannot moderate. Each check runs only
when what it depends on passed (no guild checks without a token); the guild
checks read each guild's configuration from the database when it can, and
judge against the defaults otherwise. Nothing here writes anywhere: a missing
SQLite file is reported, not created.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, suppress

from sqlalchemy.exc import SQLAlchemyError

from bot.domain.config import DEFAULT_CONFIG, GuildConfig
from bot.domain.doctor import (
    BotAccount,
    BotInGuild,
    ChannelFacts,
    Check,
    DiscordDirectory,
    GuildEntry,
    ModLogChannel,
    guild_subject,
    hierarchy_check,
    intents_check,
    permissions_check,
    without_password,
)
from bot.domain.errors import DatabaseUnavailable
from bot.domain.ports import DiscordFailure
from bot.infra.cache import MemoryCache
from bot.infra.clock import SystemClock
from bot.infra.redis_client import RedisUnavailable, ping
from bot.services.config import ConfigService
from bot.settings import Settings, SettingsError
from db import migrate
from db.engine import Database, is_sqlite, sqlite_file

#: How long Redis gets to answer PING.
REDIS_TIMEOUT = 2.0
#: How long Discord gets to answer the first request: long enough for discord.py's
#: five tries at a 5xx (25 s of back-off), so an outage is reported as what it is.
DISCORD_TIMEOUT = 40.0

ConfigReader = Callable[[int], Awaitable[GuildConfig]]
#: Each guild's configuration, or why the defaults stand in for it.
Configs = ConfigReader | str


def explain(failure: DiscordFailure) -> str:
    """A Discord failure in a few words: what Discord said, or why it was not reached."""
    if failure.status == 0:
        return f"cannot reach Discord: {failure.discord_message}"
    return f"Discord answered {failure.status}: {failure.discord_message}"


class Doctor:
    """Runs the checklist. `connect` gives a not-yet-logged-in view of Discord;
    `requested_intents` names each privileged intent the bot asks for, and why."""

    def __init__(
        self,
        load_settings: Callable[[], Settings],
        connect: Callable[[Settings], DiscordDirectory],
        requested_intents: Mapping[str, str],
    ) -> None:
        self._load_settings = load_settings
        self._connect = connect
        self._requested_intents = requested_intents

    async def examine(self) -> AsyncIterator[Check]:
        """Every check in order, each yielded as soon as it is known."""
        try:
            settings = self._load_settings()
        except SettingsError as error:
            yield Check.failed(
                "settings", str(error), "fix it in the environment or .env (see .env.example)"
            )
            return
        yield Check.passed("settings", "valid")
        async with AsyncExitStack() as resources:
            reachable, database = await self._database(settings)
            yield reachable
            configs: Configs = "the database could not be read"
            if database is not None:
                resources.push_async_callback(database.dispose)
                schema, at_head = await self._schema(settings)
                yield schema
                # Otherwise its configuration may not be readable as this version reads it.
                configs = _reader(database) if at_head else "the schema is not the newest"
            else:
                yield Check.skipped("schema", "not checked: the database is unavailable")
            yield await self._redis(settings)
            async for check in self._discord(settings, configs):
                yield check

    async def _database(self, settings: Settings) -> tuple[Check, Database | None]:
        """Whether the database answers; if it does, the open `Database`."""
        url = settings.database_url
        shown = without_password(url)
        missing = sqlite_file(url)
        if missing is not None and not missing.exists():
            return Check.failed(
                "database",
                f"{shown}: the SQLite file {missing} does not exist",
                "run `lockdown db upgrade` to create it, or point DATABASE_URL at the right file",
            ), None
        database: Database | None = None
        try:
            database = Database(url)
            await database.ping()
        except (OSError, TimeoutError, SQLAlchemyError) as error:
            if database is not None:
                await database.dispose()
            reason = str(getattr(error, "orig", None) or error).splitlines()[0]
            return Check.failed(
                "database",
                f"cannot use {shown}: {reason or type(error).__name__}",
                "check DATABASE_URL and that the database server is running",
            ), None
        return Check.passed("database", f"{shown} answers"), database

    async def _schema(self, settings: Settings) -> tuple[Check, bool]:
        """Whether the schema is one the bot runs on; and whether it is at head."""
        url = settings.database_url
        head = migrate.head_revision(url)
        current = await asyncio.to_thread(migrate.current_revisions, url)
        if current == (head,):
            return Check.passed("schema", f"at the newest migration ({head})"), True
        at = ", ".join(current) or "no migration (an empty database)"
        try:
            await asyncio.to_thread(migrate.ensure_current, url, auto_migrate=False)
        except migrate.SchemaAhead as error:
            hint = "run the Lockdown version that migrated this database"
            return Check.failed("schema", str(error), hint), False
        except migrate.SchemaBehind:
            if is_sqlite(url) and settings.auto_migrate:
                detail = f"at {at}; the bot upgrades this SQLite file to {head} when it starts"
                return Check.passed("schema", detail), False
        return Check.failed(
            "schema",
            f"at {at}; the newest migration is {head}",
            "run `lockdown db upgrade` (the bot does not start on an outdated schema)",
        ), False

    async def _redis(self, settings: Settings) -> Check:
        if settings.redis_url is None:
            return Check.passed(
                "redis",
                "not configured (REDIS_URL is unset): each process keeps its limits, "
                "cooldowns and caches in memory",
            )
        shown = without_password(settings.redis_url)
        try:
            await ping(settings.redis_url, wait_seconds=REDIS_TIMEOUT)
        except RedisUnavailable as error:
            return Check.failed(
                "redis",
                f"{shown} does not answer: {error}",
                "start Redis (the bot then falls back to per-process limits), "
                "or unset REDIS_URL for a single process",
            )
        return Check.passed("redis", f"{shown} answers PING")

    async def _discord(self, settings: Settings, configs: Configs) -> AsyncIterator[Check]:
        try:
            token = settings.token()
        except SettingsError as error:
            yield Check.failed(
                "token", str(error), "find it in the Developer Portal: your application → Bot"
            )
            yield Check.skipped("intents", "not checked: no token")
            yield Check.skipped("guilds", "not checked: no token")
            return
        directory = self._connect(settings)
        try:
            try:
                me = await asyncio.wait_for(directory.log_in(token), DISCORD_TIMEOUT)
            except (DiscordFailure, TimeoutError) as error:
                yield _token_refused(settings, error)
                yield Check.skipped("intents", "not checked: the token check failed")
                yield Check.skipped("guilds", "not checked: the token check failed")
                return
            yield Check.passed("token", f"Discord accepts it: logged in as {me.name} ({me.id})")
            try:
                flags = await directory.application_flags()
            except DiscordFailure as failure:
                yield Check.failed(
                    "intents",
                    f"could not read the application: {explain(failure)}",
                    "run lockdown doctor again; if it persists, check Discord's status",
                )
            else:
                yield intents_check(self._requested_intents, flags)
            async for check in self._guilds(directory, me, configs):
                yield check
        finally:
            await directory.close()

    async def _guilds(
        self, directory: DiscordDirectory, me: BotAccount, configs: Configs
    ) -> AsyncIterator[Check]:
        count = 0
        try:
            async for entry in directory.guilds():
                count += 1
                async for check in self._guild(directory, me, entry, configs):
                    yield check
        except DiscordFailure as failure:
            yield Check.failed(
                "guilds",
                f"could not list the bot's guilds after {count}: {explain(failure)}",
                "run lockdown doctor again",
            )
            return
        judged = (
            f"against the default configuration ({configs})"
            if isinstance(configs, str)
            else "each with its configuration"
        )
        if count == 0:
            yield Check.passed("guilds", "the bot is in no guild yet")
        else:
            yield Check.passed("guilds", f"checked {count} guild{'s' * (count != 1)}, {judged}")

    async def _guild(
        self,
        directory: DiscordDirectory,
        me: BotAccount,
        entry: GuildEntry,
        configs: Configs,
    ) -> AsyncIterator[Check]:
        """At most three requests: the guild with its roles, the bot's member, and the
        mod-log channel if one is configured."""
        try:
            guild = await directory.guild(entry.id)
            bot = BotInGuild(me.id, await directory.member_roles(entry.id, me.id))
        except DiscordFailure as failure:
            yield Check.failed(
                guild_subject(entry),
                f"could not be read: {explain(failure)}",
                "run lockdown doctor again; the bot may have just left it",
            )
            return
        config = DEFAULT_CONFIG
        if not isinstance(configs, str):
            # It answered a moment ago; if it stopped, judge this guild on the defaults.
            with suppress(DatabaseUnavailable):
                config = await configs(entry.id)
        modlog: ChannelFacts | ModLogChannel | None = None
        if config.modlog_channel_id is not None:
            try:
                modlog = await directory.channel(config.modlog_channel_id)
            except DiscordFailure as failure:
                if failure.status not in (403, 404):
                    yield Check.failed(
                        guild_subject(guild),
                        f"could not read its mod-log channel: {explain(failure)}",
                        "run lockdown doctor again",
                    )
                    return
                modlog = ModLogChannel.GONE if failure.status == 404 else ModLogChannel.HIDDEN
        yield permissions_check(guild, bot, config, modlog)
        yield hierarchy_check(guild, bot)


def _token_refused(settings: Settings, error: DiscordFailure | TimeoutError) -> Check:
    where = settings.discord_api_base_url
    if isinstance(error, TimeoutError):
        return Check.failed(
            "token",
            f"Discord at {where} did not answer within {DISCORD_TIMEOUT:.0f} s",
            "check the network, or DISCORD_API_BASE_URL if you set it",
        )
    if error.status == 401:
        return Check.failed(
            "token",
            "Discord rejected DISCORD_TOKEN (401 Unauthorized)",
            "copy the token again (Developer Portal → your application → Bot → Reset Token)",
        )
    if error.status == 0:
        return Check.failed(
            "token",
            f"cannot reach Discord at {where}: {error.discord_message}",
            "check the network, or DISCORD_API_BASE_URL if you set it",
        )
    return Check.failed(
        "token",
        f"could not check it: {explain(error)} (at {where})",
        "try again later; Discord may be having trouble",
    )


def _reader(database: Database) -> ConfigReader:
    """Each guild's configuration, read as the bot reads it."""
    return ConfigService(database, MemoryCache(), SystemClock()).get
