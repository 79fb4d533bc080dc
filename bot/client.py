"""The Discord client: owns the gateway connection and hands work to services."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.clock import SystemClock
from bot.discord_gateway import DiscordModerationGateway
from bot.domain.errors import LockdownError
from bot.domain.shards import ShardScope
from bot.identify import IdentifyGate, MemoryIdentifyGate, RedisIdentifyGate
from bot.services.audit import AuditService
from bot.services.config import ConfigService
from bot.services.container import Services
from bot.services.data import DataService
from bot.services.moderation import ModerationService
from bot.services.policies import PolicyService
from bot.services.reconcile import ReconcileService
from bot.services.throttle import CommandThrottle, Throttled
from bot.services.timers import BotIdentity, TimerService
from bot.settings import Settings
from bot.shared import shared_state
from cogs._adapters import NO_MENTIONS
from cogs.audit import AuditTrail
from cogs.bans import Bans
from cogs.cases import Cases
from cogs.configuration import Configuration
from cogs.kicks import Kicks
from cogs.mutes import Mutes
from cogs.notes import Notes
from cogs.policies import Policies
from cogs.reconciliation import Reconciliation
from cogs.status import ProcessStatus, Status
from cogs.warnings import Warnings
from db.engine import Database

log = logging.getLogger(__name__)

RETENTION_SWEEP = timedelta(hours=1)
COGS = (Bans, Kicks, Mutes, Warnings, Notes, Cases, Configuration, Policies, AuditTrail)


def intents() -> discord.Intents:
    """Only what moderation needs: guilds, members, bans and audit-log events."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True
    wanted.moderation = True
    return wanted


class LockdownTree(app_commands.CommandTree["LockdownBot"]):
    """One place that turns errors into replies: clear text for the moderator,
    a traceback in the log only for bugs."""

    async def interaction_check(self, interaction: discord.Interaction[LockdownBot]) -> bool:
        """Every command passes the user's pace and, if it has one, its cooldown."""
        command = interaction.command
        if interaction.guild_id is None or command is None:
            return True
        cooldown = (
            command.extras.get("cooldown") if isinstance(command, app_commands.Command) else None
        )
        try:
            await self.client.throttle.admit(
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
            await self.client.throttle.refund(
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                command=command.qualified_name,
            )

    async def on_error(
        self, interaction: discord.Interaction[LockdownBot], error: app_commands.AppCommandError
    ) -> None:
        cause = getattr(error, "original", None) or error.__cause__ or error
        if not isinstance(cause, Throttled):
            await self._refund_cooldown(interaction)  # a refused command did nothing
        if isinstance(cause, LockdownError):
            message = str(cause)
        elif isinstance(error, app_commands.TransformerError):
            message = f"`{error.value}` is not a valid {error.type.name.lower()} here."
        elif isinstance(error, app_commands.CheckFailure):
            message = "You are not allowed to use this command here."
        else:
            log.error("command %s failed", interaction.command, exc_info=error)
            message = "Something went wrong on my side; the error was logged."
        send = (
            interaction.followup.send
            if interaction.response.is_done()
            else interaction.response.send_message
        )
        try:
            await send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not tell %s about an error: %s", interaction.user, message)


class LockdownBot(commands.AutoShardedBot):
    def __init__(self, *, settings: Settings, database: Database) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            shard_count=settings.shard_count,
            # None (all shards) is discord.py's own default; its annotation omits it.
            shard_ids=settings.shard_ids,  # type: ignore[arg-type]
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            tree_cls=LockdownTree,
        )
        self.settings = settings
        self.database = database
        self.clock = SystemClock()
        # Shared by every process through Redis when there is one; per process otherwise.
        self.shared = shared_state(settings.redis_url)
        gateway = DiscordModerationGateway(self)
        config = ConfigService(database, self.shared.config_cache, self.clock)
        self.timers = TimerService(
            database, gateway, config, self.clock, identity=self._identity, scope=self._scope
        )
        self.shared.bus.subscribe(self.timers.on_event)
        self.shared.bus.on_reconnect(self.timers.wake)  # a case may have come meanwhile
        moderation = ModerationService(
            database,
            gateway,
            config,
            self.clock,
            limiter=self.shared.limiter,
            events=self.shared.bus,
        )
        self.reconcile = ReconcileService(
            database,
            gateway,
            config,
            self.clock,
            bot_id=lambda: self._identity().id,
            events=self.shared.bus,
        )
        self.throttle = CommandThrottle(
            self.shared.limiter,
            self.shared.cooldowns,
            limit=settings.command_limit,
            window=settings.command_window_seconds,
        )
        self._identify_gate: IdentifyGate | None = None
        self._max_concurrency: int | None = None
        self.services = Services(
            config=config,
            moderation=moderation,
            policies=PolicyService(database, self.clock),
            audit=AuditService(database),
        )
        self.data = DataService(database, config, self.clock)
        self._background: set[asyncio.Task[None]] = set()
        self._timer_task: asyncio.Task[None] | None = None

    def _identity(self) -> BotIdentity:
        assert self.user is not None
        return BotIdentity(self.user.id, str(self.user))

    def process_status(self) -> ProcessStatus:
        scope = self._scope()
        return ProcessStatus(
            shard_ids=tuple(sorted(scope.shard_ids)),
            shard_count=scope.shard_count,
            shared_through_redis=self.shared.uses_redis,
            config_cache=self.shared.config_cache.stats(),
            events_received=self.shared.bus.received,
        )

    def _scope(self) -> ShardScope:
        """The shards this process runs (known once the gateway is up)."""
        count = self.shard_count or 1
        return ShardScope(count, frozenset(self.shard_ids or range(count)))

    async def setup_hook(self) -> None:
        await self.database.ping()
        await self.shared.start()
        for cog in COGS:
            await self.add_cog(cog(self.services))
        await self.add_cog(Reconciliation(self, self.reconcile))
        await self.add_cog(Status(self.process_status))
        await self.sync_commands()
        self._timer_task = self._start(self._run_timers())
        self._start(self._purge_departed_guilds())

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run background work, keeping a reference so it is neither collected nor lost."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _run_timers(self) -> None:
        await self.wait_until_ready()  # timers act through the guild cache
        await self.timers.run()

    async def _purge_departed_guilds(self) -> None:
        """Hourly: forget guilds the bot left longer ago than their retention period."""
        while True:
            try:
                await self.data.purge_departed()
            except Exception:
                log.exception("retention purge failed; trying again next hour")
            await asyncio.sleep(RETENTION_SWEEP.total_seconds())

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.data.left(guild.id)

    async def close(self) -> None:
        """Let an in-flight timer finish recording what it did on Discord, then stop.

        Other background work (the hourly retention sweep) holds nothing half-done
        and is cancelled at once.
        """
        self.timers.stop()
        if self._timer_task is not None and not self._timer_task.done():
            await asyncio.wait({self._timer_task}, timeout=10)
        for task in self._background:
            task.cancel()
        await super().close()
        await self.shared.close()

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
            async with self.database.autocommit() as uow:
                if await uow.state.get(key) == digest:
                    log.info("commands unchanged for %s; not syncing", key)
                    continue
            await self.tree.sync(guild=guild)
            async with self.database.autocommit() as uow:
                await uow.state.set(key, digest, now=self.clock.now())
            log.info("synced %d commands for %s", len(commands), key)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Every guild the bot is in has a row, so its cases have somewhere to belong."""
        async with self.database.autocommit() as uow:
            await uow.guilds.record_join(guild.id, guild.name, now=self.clock.now())

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.on_guild_available(guild)

    async def on_ready(self) -> None:
        log.info(
            "connected as %s to %d guilds on shards %s",
            self.user,
            len(self.guilds),
            sorted(self.shards),
        )
