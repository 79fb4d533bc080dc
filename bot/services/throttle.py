"""How often one person may use commands: a pace for everything, a cooldown for some.

The pace counts a user's commands wherever they run them (every guild, every
process), so one account cannot keep the bot busy. A cooldown belongs to one
command, user and guild, for commands that are heavy on Discord (a mass ban).
Both go through the shared limiter and cooldowns, so a second process enforces
what the first one started.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.domain.durations import format_duration
from bot.domain.errors import LockdownError
from bot.domain.lifecycle import KINDS
from bot.domain.metrics import NO_METRICS, Metrics
from bot.infra.limits import Cooldowns, RateLimiter


class Throttled(LockdownError):
    """Too fast: the message says how long to wait."""


def _cooldown_key(user_id: int, guild_id: int, command: str) -> str:
    return f"{guild_id}:{user_id}:{command}"


def _wait(seconds: float) -> str:
    return format_duration(timedelta(seconds=max(1, math.ceil(seconds))))


#: Commands that ban or kick: refusing them for pace is the anti-nuke signal too.
PACED_COMMANDS = frozenset(
    {kind.action.value for kind in KINDS.values() if kind.paced} | {"massban"}
)

BurstAlert = Callable[[int, int, str], Awaitable[None]]


class CommandThrottle:
    def __init__(
        self,
        limiter: RateLimiter,
        cooldowns: Cooldowns,
        *,
        limit: int,
        window: float,
        on_burst: BurstAlert | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._metrics = metrics
        self._limiter = limiter
        self._cooldowns = cooldowns
        self._limit = limit
        self._window = window
        self._on_burst = on_burst

    async def admit(
        self, *, user_id: int, guild_id: int, command: str, cooldown: float | None = None
    ) -> None:
        """Let the command run, or raise `Throttled` naming the wait."""
        verdict = await self._limiter.hit(
            f"commands:{user_id}", limit=self._limit, window=self._window
        )
        if not verdict.allowed:
            await self._report_burst(user_id, guild_id, command)
            raise Throttled(
                f"You are using commands too fast; try again in {_wait(verdict.retry_after)}."
            )
        if cooldown:
            left = await self._cooldowns.start(_cooldown_key(user_id, guild_id, command), cooldown)
            if left > 0:
                raise Throttled(
                    f"`/{command}` is cooling down for you in this server; "
                    f"try again in {_wait(left)}."
                )

    async def _report_burst(self, user_id: int, guild_id: int, command: str) -> None:
        """A moderator banning or kicking faster than the pace allows is the signal the
        anti-nuke limit watches for: alert once per window, however many are refused."""
        if command not in PACED_COMMANDS:
            return
        self._metrics.antinuke_refused("command_pace")
        if self._on_burst is None:
            return
        if await self._cooldowns.start(f"burst-alert:{guild_id}:{user_id}", self._window) == 0:
            await self._on_burst(guild_id, user_id, command)

    async def refund(self, *, user_id: int, guild_id: int, command: str) -> None:
        """The command was refused (bad input, a failed check): its cooldown must not
        hold, since nothing was done."""
        await self._cooldowns.clear(_cooldown_key(user_id, guild_id, command))
