from __future__ import annotations

import pytest

from bot.domain.targets import InvalidTargets, parse_user_ids

A, B = 123456789012345678, 876543210987654321


def test_ids_and_mentions_in_any_separation() -> None:
    assert parse_user_ids(f"{A}, <@{B}>\n<@!{A}>") == [A, B]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one"),
        ("  , ", "at least one"),
        (f"{A} bob", "`bob` is not a user id"),
        ("123", "`123` is not a user id"),
        (f"<@&{A}>", "is not a user id"),
    ],
)
def test_refusals(text: str, message: str) -> None:
    with pytest.raises(InvalidTargets, match=message):
        parse_user_ids(text)


def test_at_most_a_thousand() -> None:
    many = " ".join(str(A + i) for i in range(1001))
    with pytest.raises(InvalidTargets, match="1,001 users; at most 1,000"):
        parse_user_ids(many)
    assert len(parse_user_ids(" ".join(str(A + i) for i in range(1000)))) == 1000
