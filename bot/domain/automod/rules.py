"""What automod is told, what it is configured with, and what it answers.

Everything here is plain data: the Discord adapter turns a gateway event into
:class:`MessageFacts`, a guild's stored configuration becomes an
:class:`AutomodConfig`, and the engine answers with :class:`Verdict` values that
the case keeps as evidence.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from bot.domain.errors import LockdownError

# -- Input ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorFacts:
    """What the rules may know about a message's author."""

    user_id: int
    is_bot: bool = False
    is_moderator: bool = False
    role_ids: frozenset[int] = frozenset()
    joined_at: datetime | None = None
    account_created_at: datetime | None = None
    has_avatar: bool = True
    may_mention_everyone: bool = False


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """One message (or edit) as automod sees it.

    ``at`` is a monotonic time in seconds, used for every window; ``sent_at`` is the
    wall-clock time, used only to compare with ``joined_at`` and ``account_created_at``.
    ``parent_id`` is a thread's channel and ``category_id`` the channel's category,
    so exemptions of either cover the thread.
    """

    guild_id: int
    channel_id: int
    message_id: int
    author: AuthorFacts
    text: str
    at: float
    sent_at: datetime
    parent_id: int | None = None
    category_id: int | None = None
    user_mentions: int = 0
    role_mentions: int = 0
    mentions_everyone: bool = False
    edited: bool = False


# -- Configuration ---------------------------------------------------------------------------


class RuleKind(enum.StrEnum):
    BURST = "burst"
    DUPLICATES = "duplicates"
    SHARED_DUPLICATES = "shared_duplicates"
    MENTIONS = "mentions"
    EVERYONE = "everyone"
    WORDS = "words"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class Stricter:
    """Makes a rule's threshold lower for members who look like throwaway accounts.

    The member is suspicious when any condition that is set holds: joined the guild
    less than ``joined_within`` ago, account younger than ``account_younger_than``,
    or no avatar (when ``without_avatar``). A suspicious member's thresholds are
    multiplied by ``factor`` (rounded up, never below 1). It applies to the rules
    that count one member (burst, duplicates, mentions); words, patterns and
    @everyone have no threshold, and shared duplicates count many members.
    """

    factor: float = 0.5
    joined_within: timedelta | None = None
    account_younger_than: timedelta | None = None
    without_avatar: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.factor <= 1:
            raise InvalidRule(
                "stricter", f"factor must be above 0 and at most 1, not {self.factor}"
            )

    def applies_to(self, author: AuthorFacts, now: datetime) -> bool:
        joined, created = author.joined_at, author.account_created_at
        return (
            (
                (self.joined_within is not None and joined is not None)
                and now - joined < self.joined_within
            )
            or (
                (self.account_younger_than is not None and created is not None)
                and now - created < self.account_younger_than
            )
            or (self.without_avatar and not author.has_avatar)
        )

    def threshold(self, threshold: int) -> int:
        return max(1, math.ceil(threshold * self.factor))


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """Fields every rule has; the subclasses are the kinds."""

    name: str
    exempt_roles: frozenset[int] = frozenset()
    exempt_channels: frozenset[int] = frozenset()
    stricter: Stricter | None = None

    kind: ClassVar[RuleKind]


@dataclass(frozen=True, slots=True, kw_only=True)
class BurstRule(Rule):
    """``count`` messages from one member within ``seconds``, in one channel or anywhere."""

    count: int
    seconds: float
    per_channel: bool = False

    kind = RuleKind.BURST


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicatesRule(Rule):
    """The same (normalised) text ``count`` times from one member within ``seconds``."""

    count: int
    seconds: float

    kind = RuleKind.DUPLICATES


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedDuplicatesRule(Rule):
    """The same text from ``accounts`` different members within ``seconds``.

    A distributed raid sends one message per account and so dodges every per-member
    rule. Texts shorter than ``min_length`` (after normalisation) are ignored, or
    "hi" and "lol" would trip it in any busy channel.
    """

    accounts: int
    seconds: float
    min_length: int = 10

    kind = RuleKind.SHARED_DUPLICATES


@dataclass(frozen=True, slots=True, kw_only=True)
class MentionsRule(Rule):
    """``count`` user and role mentions in one message, or from one member in ``seconds``."""

    count: int
    seconds: float | None = None

    kind = RuleKind.MENTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class EveryoneRule(Rule):
    """An ``@everyone`` or ``@here`` attempt by a member who may not use them."""

    kind = RuleKind.EVERYONE


@dataclass(frozen=True, slots=True, kw_only=True)
class WordsRule(Rule):
    """Whole words or phrases, any case, look-alikes normalised; ``*`` is any letters.

    ``spam*`` matches "spammer", ``*coin`` "bitcoin", and a bare ``*`` any word; a
    wildcard never crosses a space or punctuation. Punctuation between words is
    ignored, so ``free nitro`` also matches "free, nitro!".
    """

    words: tuple[str, ...]

    kind = RuleKind.WORDS


@dataclass(frozen=True, slots=True, kw_only=True)
class RegexRule(Rule):
    """RE2 regular expressions, on the raw text or, with ``normalised``, the normalised one.

    RE2 runs in time linear in the text, so no pattern can hang the bot; it has no
    backreferences or lookaround, and such a pattern is refused when the rule is built.
    """

    patterns: tuple[str, ...]
    normalised: bool = False

    kind = RuleKind.REGEX


AnyRule = (
    BurstRule
    | DuplicatesRule
    | SharedDuplicatesRule
    | MentionsRule
    | EveryoneRule
    | WordsRule
    | RegexRule
)


@dataclass(frozen=True, slots=True)
class AutomodConfig:
    """A guild's whole rule set, with the exemptions that hold for every rule."""

    rules: tuple[AnyRule, ...] = ()
    exempt_roles: frozenset[int] = frozenset()
    exempt_channels: frozenset[int] = frozenset()
    ignore_bots: bool = True
    ignore_moderators: bool = True


class InvalidRule(LockdownError):
    """A rule that cannot be built; the message says which rule and why."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"automod rule {rule!r}: {reason}")
        self.rule = rule
        self.reason = reason


# -- Output ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's match on one message: the evidence a case keeps.

    ``matched`` is the word list entry or pattern, ``fragment`` the text it matched;
    ``count`` and ``seconds`` are what was counted and over which window, against
    ``threshold``. ``message_ids`` are the messages that form the match (a whole
    burst). ``continues_burst`` is set when the same rule already matched this
    member's burst within its window, so the caller adds to that case instead of
    opening another.
    """

    rule: str
    kind: RuleKind
    message_ids: tuple[int, ...]
    matched: str | None = None
    fragment: str | None = None
    count: int | None = None
    threshold: int | None = None
    seconds: float | None = None
    continues_burst: bool = False
    member_ids: tuple[int, ...] = field(default=())
