"""Small shared plumbing: gateway intents, the event-sink seam and a change signal.

These live apart from the world and the gateway so that the moderation and
messaging layers can publish gateway events without importing the websocket
server, and so that tests can await "the world reached state X" without
polling loops sprinkled everywhere.

Waits across the emulator take a `timeout=` argument (ASYNC109 is silenced for
them): tests read better as `await handle.wait_final(timeout=2)` than wrapped
in `asyncio.timeout` blocks, and the TimeoutError then names what was awaited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from enum import IntFlag
from typing import Any, Protocol


class Intent(IntFlag):
    """Gateway intents that decide which sessions receive which events."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT

# Called with the monotonic time at which a gateway payload hit the socket.
SentCallback = Callable[[float], None]


class EventSink(Protocol):
    """Where world mutations publish the gateway events Discord would emit."""

    def dispatch_guild(
        self,
        guild_id: int,
        event: str,
        data: dict[str, Any],
        *,
        intent: Intent | None,
        on_sent: SentCallback | None = None,
    ) -> int:
        """Send to every session owning the guild's shard that subscribed to `intent`
        (None: always delivered); returns how many sessions got it."""
        ...

    def dispatch_direct(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: Intent | None,
        on_sent: SentCallback | None = None,
    ) -> int:
        """Send a DM-scoped event; Discord delivers those on shard 0."""
        ...


# Predicates may also look at state the emulator can't see change (a discord.py
# client's cache in the same process), so waiters re-check at least this often.
RECHECK_INTERVAL = 0.01


class ChangeSignal:
    """Wakes waiters whenever emulator state changes.

    Every REST request, gateway message and test-driven action pulses the
    signal, so `wait_until(predicate)` re-checks its predicate as soon as
    something could have changed rather than on a coarse sleep.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def pulse(self) -> None:
        """Wake current waiters; later waiters wait for the next pulse."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109
        """Return the first truthy value of `predicate()`, or raise TimeoutError naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), min(remaining, RECHECK_INTERVAL))
            except TimeoutError:
                continue
