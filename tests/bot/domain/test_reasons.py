from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.reasons import (
    MAX_AUDIT_REASON,
    InvalidReason,
    audit_reason,
    case_from_audit_reason,
    clean_reason,
    moderator_from_audit_reason,
    reason_from_audit_reason,
)


def test_reasons_are_kept_in_full_up_to_a_thousand_characters() -> None:
    assert clean_reason("  spam  ") == "spam"
    assert clean_reason("   ") is None
    assert clean_reason(None) is None
    assert clean_reason("x" * 1000) == "x" * 1000
    with pytest.raises(InvalidReason, match="1,001 characters long; the most is 1,000"):
        clean_reason("x" * 1001)


def test_audit_reason_names_the_moderator_and_fits_discord() -> None:
    assert audit_reason("alice", 42, "spam") == "alice (42): spam"
    assert audit_reason("alice", 42, None) == "alice (42): no reason given"
    long = audit_reason("alice", 42, "y" * 1000)
    assert len(long) == MAX_AUDIT_REASON
    assert long.startswith("alice (42): yyy")
    assert long.endswith("…")


@given(
    st.text(min_size=1, max_size=40).filter(lambda name: "(" not in name),
    st.integers(1, 2**63 - 1),
    st.text(max_size=1000),
)
def test_the_moderator_can_be_read_back(name: str, moderator_id: int, reason: str) -> None:
    assert moderator_from_audit_reason(audit_reason(name, moderator_id, reason)) == moderator_id


@pytest.mark.parametrize("text", [None, "", "banned by the UI", "bob (x): hi"])
def test_other_reasons_have_no_moderator(text: str | None) -> None:
    assert moderator_from_audit_reason(text) is None


def test_the_reason_can_be_read_back_too() -> None:
    assert reason_from_audit_reason(audit_reason("al (ice)", 42, "spam: links")) == "spam: links"
    assert reason_from_audit_reason(audit_reason("alice", 42, None)) is None
    assert reason_from_audit_reason("typed in Discord") == "typed in Discord"
    assert reason_from_audit_reason(None) is None


def test_the_audit_reason_names_the_case_and_is_read_back() -> None:
    text = audit_reason("alice", 42, "spam: again (really)", case=17)
    assert text == "alice (42) case #17: spam: again (really)"
    assert moderator_from_audit_reason(text) == 42
    assert case_from_audit_reason(text) == 17
    assert reason_from_audit_reason(text) == "spam: again (really)"
    older = audit_reason("alice", 42, "spam")  # entries written before reasons named cases
    assert case_from_audit_reason(older) is None
    assert reason_from_audit_reason(older) == "spam"
