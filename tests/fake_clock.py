"""A monotonic clock for tests: time passes only when the test says so."""

from __future__ import annotations

import asyncio


class FakeMonotonic:
    """A `Monotonic` (call it for the time) with a `Sleep` of its own.

    `advance` moves it forward; `sleep` moves it forward by the delay at once
    and yields to the event loop, like a real sleep that took no time. That is
    exact for one sleeper at a time, which is all the code under test has.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start  # not 0: real monotonic readings are arbitrary

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        self.now += seconds

    async def sleep(self, seconds: float, /) -> None:
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)
