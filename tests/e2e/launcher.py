"""`python -m tests.e2e.launcher MODULE [ARGS]`: `python -m MODULE [ARGS]` with
discord.py's back-off after a Discord server error cut short. For tests only.

discord.py's `HTTPClient.request` answers a 500, 502, 504 or 524 by trying the
request again, five times in all, sleeping 1, 3, 5, 7 and 9 s after the
failures (25 s), and then raises `DiscordServerError`. Here the tries, their
order and their growing spacing stay, and so does the error at the end: only
those five sleeps are multiplied by `LOCKDOWN_TEST_RETRY_SCALE` (default 0.02:
25 s become 0.5 s), so a test of an outage that outlasts the retries does not
wait them out. Rate-limit waits (a 429's retry_after, an exhausted bucket) are
not touched, nor is anything of the bot's: the bot module runs unmodified.
"""

from __future__ import annotations

import signal
import sys

# As `python -m bot` does first: a SIGTERM before the bot's event loop takes signals
# over has nothing to clean up, so it exits at once and cleanly.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

import asyncio  # noqa: E402
import os  # noqa: E402
import runpy  # noqa: E402
import types  # noqa: E402
from collections.abc import Coroutine  # noqa: E402
from typing import Any  # noqa: E402

import discord.http  # noqa: E402

RETRY_SCALE = float(os.environ.get("LOCKDOWN_TEST_RETRY_SCALE", "0.02"))
#: The statuses discord.py retries unconditionally (`HTTPClient.request`).
RETRIED = frozenset({500, 502, 504, 524})
_REQUEST = discord.http.HTTPClient.request.__code__


def _sleep(delay: float, result: Any = None) -> Coroutine[Any, Any, Any]:
    """`asyncio.sleep` as `discord.http` sees it: scaled when `HTTPClient.request`
    sleeps because the answer in hand is a retried server error."""
    caller = sys._getframe(1)
    if caller.f_code is _REQUEST:
        response = caller.f_locals.get("response")
        if response is not None and response.status in RETRIED:
            delay *= RETRY_SCALE
    return asyncio.sleep(delay, result)


class _Asyncio(types.ModuleType):
    """`asyncio` for `discord.http` alone, with `sleep` replaced."""

    sleep = staticmethod(_sleep)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def main() -> None:
    if RETRY_SCALE != 1.0:
        discord.http.asyncio = _Asyncio("asyncio")  # type: ignore[attr-defined]
    module = sys.argv[1]
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
