"""The Discord client: owns the gateway connection and hands work to services."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import discord
from discord.ext import commands

from bot.app import build_services
from bot.discord_side.mentions import NO_MENTIONS
from bot.discord_side.metering import name_routes, rest_trace
from bot.discord_side.rest import RestActions
from bot.discord_side.tree import LockdownTree, command_finished
from bot.domain.errors import DatabaseUnavailable
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.shards import ShardScope
from bot.infra.identify import IdentifyGate, MemoryIdentifyGate, RedisIdentifyGate
from bot.infra.metrics import PrometheusMetrics
from bot.infra.shared import shared_state
from bot.services.timers import BotIdentity
from bot.settings import Settings
from cogs.bans import Bans
from cogs.cases import Cases
from cogs.changes import ChangeLog
from cogs.configuration import Configuration
from cogs.kicks import Kicks
from cogs.mutes import Mutes
from cogs.notes import Notes
from cogs.policies import Policies
from cogs.reconciliation import Reconciliation
from cogs.status import Status
from cogs.warnings import Warnings
from db.engine import Database, describe

log = logging.getLogger(__name__)

RETENTION_SWEEP = timedelta(hours=1)
SETTLE_SWEEP = timedelta(minutes=1)
#: How often a guild that arrived while the database was away is recorded again.
ARRIVAL_RETRY = timedelta(seconds=15)
#: The most each step of shutdown waits, so a SIGTERM stops the bot in seconds.
SHUTDOWN_GRACE = 2.0
#: Every cog takes the one `Services` object.
COGS = (
    Bans,
    Kicks,
    Mutes,
    Warnings,
    Notes,
    Cases,
    Configuration,
    Policies,
    ChangeLog,
    Status,
    Reconciliation,
)


def intents() -> discord.Intents:
    """Only what moderation needs: guilds, members, bans and audit-log events."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True
    wanted.moderation = True
    return wanted


def version() -> str:
    try:
        return importlib.metadata.version("lockdown")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class LockdownBot(commands.AutoShardedBot):
    def __init__(self, *, settings: Settings, database: Database) -> None:
        # Counted only when something serves them (HTTP_PORT): see bot.discord_side.operations.
        self.prometheus = PrometheusMetrics() if settings.http_port is not None else None
        self.metrics: Metrics = self.prometheus or NO_METRICS
        metering: dict[str, Any] = {}
        if self.prometheus is not None:
            metering["http_trace"] = rest_trace(self.metrics, settings.discord_api_base_url)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            shard_count=settings.shard_count,
            guild_ready_timeout=settings.guild_ready_timeout_seconds,
            # None (all shards) is discord.py's own default; its annotation omits it.
            shard_ids=settings.shard_ids,  # type: ignore[arg-type]
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            tree_cls=LockdownTree,
            **metering,
        )
        self.settings = settings
        self.database = database
        if self.prometheus is not None:
            name_routes(self.http)
            database.observe(self.metrics)
        self.http_port: int | None = None  # where the operations endpoints listen, if anywhere
        # Shared by every process through Redis when there is one; per process otherwise.
        self.shared = shared_state(settings.redis_url, self.metrics)
        self.services = build_services(
            settings,
            database,
            self.shared,
            RestActions(self.http),
            identity=self._identity,
            scope=self._scope,
            metrics=self.metrics,
        )
        # Connected means READY or RESUMED since the last disconnect (for /readyz).
        self._shards_up: dict[int, bool] = {}
        self._identify_gate: IdentifyGate | None = None
        self._max_concurrency: int | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._timer_task: asyncio.Task[None] | None = None

    def _identity(self) -> BotIdentity:
        assert self.user is not None
        return BotIdentity(self.user.id, str(self.user))

    def _scope(self) -> ShardScope:
        """The shards this process runs (known once the gateway is up)."""
        count = self.shard_count or 1
        return ShardScope(count, frozenset(self.shard_ids or range(count)))

    def shard_states(self) -> dict[int, bool]:
        """Whether each shard this process owns is connected; empty before the
        shard count is known (it comes from Discord when SHARD_COUNT is unset)."""
        count: int | None = self.shard_count  # discord.py's annotation omits None
        if count is None:
            return {}
        return {shard: self._shards_up.get(shard, False) for shard in self._scope().shard_ids}

    async def on_shard_ready(self, shard_id: int) -> None:
        self._shards_up[shard_id] = True

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._shards_up[shard_id] = True

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._shards_up[shard_id] = False

    async def on_app_command_completion(
        self, interaction: discord.Interaction[LockdownBot], command: object
    ) -> None:
        command_finished(interaction, "ok")

    async def setup_hook(self) -> None:
        await self.database.ping()
        await self.shared.start()
        for cog in COGS:
            await self.add_cog(cog(self.services))
        await self.sync_commands()
        self._timer_task = self._start(self._run_timers())
        self._start(self._purge_departed_guilds())
        self._start(self._settle_stale_intents())

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run background work, keeping a reference so it is neither collected nor lost."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _run_timers(self) -> None:
        await self.wait_until_ready()  # timers act through the guild cache
        await self.services.timers.run()

    async def _settle_stale_intents(self) -> None:
        """At start-up and every minute: settle cases a crash or an outage left pending."""
        await self.wait_until_ready()  # Discord must be reachable to say what is true
        while True:
            try:
                await self.services.settling.settle_stale()
            except DatabaseUnavailable:
                log.warning("settling pending cases waits: the database is unavailable")
            except Exception:
                log.exception("settling pending cases failed; trying again in a minute")
            stale_after = self.services.settling.stale_after
            await asyncio.sleep(min(SETTLE_SWEEP, stale_after / 2).total_seconds())

    async def _purge_departed_guilds(self) -> None:
        """Hourly: forget guilds the bot left longer ago than their retention period."""
        while True:
            try:
                await self.services.data.purge_departed()
            except DatabaseUnavailable:
                log.warning("retention purge waits an hour: the database is unavailable")
            except Exception:
                log.exception("retention purge failed; trying again next hour")
            await asyncio.sleep(RETENTION_SWEEP.total_seconds())

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.services.data.left(guild.id)

    async def close(self) -> None:
        """Stop within a few seconds, whatever is going on.

        An in-flight timer gets a short grace to record what it did on Discord;
        anything cut short is safe to cut: timers run again at the next start,
        and an action interrupted between its intent and its confirmation is
        settled from what Discord shows by the next sweep.
        """
        self.services.timers.stop()
        if self._timer_task is not None and not self._timer_task.done():
            await asyncio.wait({self._timer_task}, timeout=SHUTDOWN_GRACE)
        for task in self._background:
            task.cancel()
        await super().close()
        for closing in (self.services.names.flush, self.shared.close):
            try:
                await asyncio.wait_for(closing(), SHUTDOWN_GRACE)
            except TimeoutError:
                log.warning("gave up waiting on shutdown work after %ss", SHUTDOWN_GRACE)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for this shard's identify bucket to be free in every process.

        Replaces discord.py's fixed 5 s pause between the shards of one process.
        """
        if self._max_concurrency is None:
            try:
                self._max_concurrency = (await self.fetch_session_start_limits()).max_concurrency
            except discord.HTTPException as error:
                log.warning("could not read max_concurrency (%s); identifying one at a time", error)
                self._max_concurrency = 1
        if self._identify_gate is None:
            interval = self.settings.identify_interval_seconds
            self._identify_gate = (
                RedisIdentifyGate(
                    self.shared.redis, str(self.user.id if self.user else 0), interval=interval
                )
                if self.shared.redis is not None
                else MemoryIdentifyGate(interval)
            )
        bucket = (shard_id or 0) % max(1, self._max_concurrency)
        await self._identify_gate.wait_turn(bucket)
        log.info("identifying shard %s (bucket %d of %d)", shard_id, bucket, self._max_concurrency)

    async def sync_commands(self) -> None:
        """Sync to the development guilds (instant) or globally, only if the tree changed.

        Discord limits command creation per day; a restart with the same commands
        must not spend any of it, so the last synced tree's hash is kept per target.
        """
        targets: list[discord.Object | None] = [
            discord.Object(guild_id) for guild_id in self.settings.dev_guild_ids
        ] or [None]
        for guild in targets:
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            commands = self.tree.get_commands(guild=guild)
            definition = json.dumps([c.to_dict(self.tree) for c in commands], sort_keys=True)
            digest = hashlib.sha256(definition.encode()).hexdigest()
            key = f"commands:{self.application_id}:{guild.id if guild else 'global'}"
            if await self.services.commands.unchanged(key, digest):
                log.info("commands unchanged for %s; not syncing", key)
                continue
            await self.tree.sync(guild=guild)
            await self.services.commands.synced(key, digest)
            log.info("synced %d commands for %s", len(commands), key)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Every guild the bot is in has a row, so its cases have somewhere to belong
        (kept trying in the background while the database is unavailable)."""
        try:
            await self.services.data.arrived(guild.id, guild.name)
        except DatabaseUnavailable:
            log.warning("guild %s waits for the database to be recorded", guild.id)
            self._start(self._record_arrival(guild))

    async def _record_arrival(self, guild: discord.Guild) -> None:
        while True:
            await asyncio.sleep(ARRIVAL_RETRY.total_seconds())
            with contextlib.suppress(DatabaseUnavailable):
                await self.services.data.arrived(guild.id, guild.name)
                return

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.on_guild_available(guild)

    async def on_ready(self) -> None:
        """The start-up banner: what this process is and what it uses (no secrets)."""
        settings = self.settings
        facts = {
            "version": version(),
            "database": describe(settings.database_url),
            "redis": "on" if settings.redis_url else "off",
            "shard_ids": sorted(self.shards),
            "shard_count": self.shard_count,
            "guilds": len(self.guilds),
            "http_port": self.http_port,
        }
        log.info(
            "connected as %s to %d guilds on shards %s of %s: Lockdown %s, database %s, "
            "Redis %s, HTTP port %s",
            self.user,
            facts["guilds"],
            facts["shard_ids"],
            facts["shard_count"],
            facts["version"],
            facts["database"],
            facts["redis"],
            facts["http_port"] if self.http_port is not None else "off",
            extra=facts,
        )
