"""Durations as moderators type them: `45s`, `30m`, `1h30m`, `2d`, `1w`."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.domain.errors import LockdownError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MINIMUM = timedelta(seconds=10)
#: Longer than any sensible temporary punishment; use a permanent one instead.
MAXIMUM = timedelta(days=5 * 365)

_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^(?:\d+\s*[smhdw]\s*)+$")


class InvalidDuration(LockdownError):
    """The text is not a duration Lockdown accepts; the message says why."""


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`-style text (units s, m, h, d, w), between 10 s and 5 years."""
    cleaned = text.strip().lower()
    if not _WHOLE.match(cleaned):
        raise InvalidDuration(
            f"`{text.strip()[:40]}` is not a duration: use a number and a unit "
            "(s, m, h, d, w), like 45s, 30m, 1h30m, 2d or 1w"
        )
    seconds = sum(int(amount) * UNITS[unit] for amount, unit in _PART.findall(cleaned))
    if seconds > MAXIMUM.total_seconds():
        raise InvalidDuration("that duration is too long: the most is 5 years (260w)")
    duration = timedelta(seconds=seconds)
    if duration < MINIMUM:
        raise InvalidDuration("that duration is too short: the least is 10 seconds")
    return duration


def format_duration(duration: timedelta) -> str:
    """The compact form `parse_duration` reads, largest units first (`1w2d3h`)."""
    seconds = int(duration.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
