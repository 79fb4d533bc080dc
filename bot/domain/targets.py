"""Lists of users as moderators paste them: ids and mentions, spaces or commas."""

from __future__ import annotations

import re

from bot.domain.errors import LockdownError

MAX_MASSBAN = 1000
_TOKEN = re.compile(r"^(?:<@!?(\d{15,20})>|(\d{15,20}))$")


class InvalidTargets(LockdownError):
    pass


def parse_user_ids(text: str, *, limit: int = MAX_MASSBAN) -> list[int]:
    """Distinct user ids in the order given; refuses anything that is not an id."""
    ids: dict[int, None] = {}
    for token in filter(None, re.split(r"[\s,]+", text.strip())):
        match = _TOKEN.match(token)
        if match is None:
            raise InvalidTargets(f"`{token[:40]}` is not a user id or mention.")
        ids[int(match[1] or match[2])] = None
    if not ids:
        raise InvalidTargets("Give at least one user id.")
    if len(ids) > limit:
        raise InvalidTargets(f"That is {len(ids):,} users; at most {limit:,} at a time.")
    return list(ids)
