from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.durations import (
    MAXIMUM,
    MINIMUM,
    InvalidDuration,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        (" 1H 30M ", timedelta(hours=1, minutes=30)),
        ("10s", timedelta(seconds=10)),
        ("260w", timedelta(weeks=260)),
        ("1d1d", timedelta(days=2)),
    ],
)
def test_accepted_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0s", "too short"),
        ("9s", "too short"),
        ("-5m", "is not a duration"),
        ("", "is not a duration"),
        ("soon", "is not a duration"),
        ("10", "is not a duration"),
        ("1y", "is not a duration"),
        ("1.5h", "is not a duration"),
        ("261w", "too long"),
        ("99999999999999999999d", "too long"),
    ],
)
def test_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidDuration, match=message):
        parse_duration(text)


@given(st.integers(MINIMUM.total_seconds(), MAXIMUM.total_seconds()))
def test_format_and_parse_round_trip(seconds: int) -> None:
    duration = timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


def test_format_reads_naturally() -> None:
    assert format_duration(timedelta(days=9, hours=3, seconds=5)) == "1w2d3h5s"
