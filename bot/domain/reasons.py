"""Reasons: kept in full on the case, shortened for Discord's audit log."""

from __future__ import annotations

import re

from bot.domain.errors import LockdownError

MAX_REASON = 1000
MAX_AUDIT_REASON = 512  # Discord's limit on X-Audit-Log-Reason
NO_REASON = "no reason given"


_MODERATOR_PREFIX = re.compile(r"^.*? \((\d+)\)(?: case #(\d+))?: ", re.DOTALL)
#: Control characters (C0, DEL, C1) but newline and tab, and lone surrogates: what no
#: backend or driver stores faithfully (PostgreSQL refuses NUL; drivers refuse surrogates).
_UNSTORABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class InvalidReason(LockdownError):
    pass


class UnstorableText(LockdownError):
    """Free text with a character that cannot be stored; the message names it."""


def check_storable(text: str, what: str = "That text") -> str:
    """Refuse text the database could not keep exactly, before anything happens."""
    found = _UNSTORABLE.search(text)
    if found is not None:
        raise UnstorableText(
            f"{what} contains an invisible control character (U+{ord(found[0]):04X}) "
            "that can't be stored; remove it and try again."
        )
    return text


def clean_reason(reason: str | None) -> str | None:
    """A reason as stored: stripped, `None` when empty, refused past 1,000 characters."""
    if reason is None or not reason.strip():
        return None
    reason = check_storable(reason.strip(), "The reason")
    if len(reason) > MAX_REASON:
        raise InvalidReason(
            f"That reason is {len(reason):,} characters long; the most is {MAX_REASON:,}."
        )
    return reason


def audit_reason(
    moderator_name: str, moderator_id: int, reason: str | None, *, case: int | None = None
) -> str:
    """What Discord's audit log shows: who asked, for which case, then why, within
    512 characters.

    The bot performs every action, so without the prefix the audit log would
    credit the bot; reconciliation reads the id back from it, and the case
    number tells it exactly which case the entry belongs to.
    """
    number = f" case #{case}" if case is not None else ""
    text = f"{moderator_name} ({moderator_id}){number}: {reason or NO_REASON}"
    if len(text) <= MAX_AUDIT_REASON:
        return text
    return text[: MAX_AUDIT_REASON - 1] + "…"


def moderator_from_audit_reason(text: str | None) -> int | None:
    """The moderator id `audit_reason` put in front, if the text starts with one."""
    match = _MODERATOR_PREFIX.match(text or "")
    return int(match[1]) if match else None


def case_from_audit_reason(text: str | None) -> int | None:
    """The case number `audit_reason` put in front, if the text carries one."""
    match = _MODERATOR_PREFIX.match(text or "")
    return int(match[2]) if match and match[2] else None


def reason_from_audit_reason(text: str | None) -> str | None:
    """The moderator's own reason inside an `audit_reason` text (None for "no reason")."""
    match = _MODERATOR_PREFIX.match(text or "")
    reason = text[match.end() :] if match and text else text
    return None if not reason or reason == NO_REASON else reason
