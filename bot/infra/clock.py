"""The real clocks. Services take a `Clock` (wall time) and infrastructure takes a
`Monotonic` (elapsed time), so tests can use fixed or fake ones."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Protocol


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Monotonic(Protocol):
    """Seconds on a clock that never goes back; only differences mean anything.
    The real one is `time.monotonic`, every component's default."""

    def __call__(self) -> float: ...


class Sleep(Protocol):
    """Wait this many seconds. The real one is `asyncio.sleep`; a test passes one
    that moves its fake `Monotonic` instead of waiting."""

    def __call__(self, seconds: float, /) -> Awaitable[None]: ...
