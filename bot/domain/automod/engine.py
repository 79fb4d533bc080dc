"""The automod engine: a guild's compiled rules and its in-memory counters.

:class:`RuleSet` is built once per configuration change and never changes afterwards:
every pattern is checked by RE2 (and refused with RE2's message), and all the word
lists of a guild become one RE2 set, as do all its patterns, so a message costs one
pass per form of its text however many rules and words there are.
:class:`GuildAutomod` pairs it with the guild's counters, sliding windows over the
monotonic time each message carries; no clock is read here. A guild's counters
stay small: each key keeps at most a threshold's worth of entries, entries older
than their window are dropped, and keys gone quiet are swept once per window.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

import re2

from bot.domain.automod.normalise import normalise
from bot.domain.automod.rules import (
    AnyRule,
    AuthorFacts,
    AutomodConfig,
    BurstRule,
    DuplicatesRule,
    EveryoneRule,
    InvalidRule,
    MentionsRule,
    MessageFacts,
    RegexRule,
    Rule,
    SharedDuplicatesRule,
    Verdict,
    WordsRule,
)

# The longest piece of matched text a verdict keeps.
FRAGMENT_LIMIT = 100

# A word: letters, digits and underscore in any script (Python's own ``\w``, a fixed
# pattern, not an admin's). Word list entries keep their ``*`` wildcards.
_WORDS = re.compile(r"\w+")
_ENTRY_WORDS = re.compile(r"[\w*]+")


def word_string(normalised: str) -> str:
    """The text's words between single spaces, with a space at each end.

    Word lists match this form: a whole word is one between two spaces, a wildcard
    is ``[^ ]*``, and no pattern needs Unicode classes, which would make RE2's set
    of a thousand words too big to compile.
    """
    return " " + " ".join(_WORDS.findall(normalised)) + " "


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the error goes to the admin, not to stderr
    return options


def compile_pattern(rule: str, pattern: str) -> re2._Regexp:
    """Compile an RE2 pattern, or raise :class:`InvalidRule` with RE2's own message."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as error:
        raise InvalidRule(rule, f"pattern {pattern!r} is refused: {_reason(error)}") from None


def _reason(error: re2.error) -> str:
    reason = error.args[0] if error.args else "not a valid RE2 pattern"
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def word_pattern(entry: str) -> str:
    """The RE2 pattern for one word list entry, to search in a :func:`word_string`."""
    words = _ENTRY_WORDS.findall(normalise(entry))
    if not words:
        raise ValueError(f"no word in {entry!r}")
    if words == ["*" * len(words[0])]:
        return " ([^ ]+) "  # a bare wildcard: any one word
    body = " ".join("[^ ]*".join(re2.escape(part) for part in word.split("*")) for word in words)
    return f" ({body}) "


@dataclass(frozen=True, slots=True)
class _Matcher:
    """Many rules' patterns in one RE2 set: one pass over a message, however many rules.

    Each pattern has an owner (rule name, the entry as configured); ``group`` is the
    group that holds the matched text (1 for word lists, whose patterns carry the
    surrounding spaces).
    """

    owners: tuple[tuple[str, str], ...] = ()
    patterns: tuple[str, ...] = ()
    matcher: re2.Set | None = None
    group: int = 0

    @classmethod
    def build(cls, owned: list[tuple[str, str, str]], group: int) -> _Matcher:
        if not owned:
            return cls(group=group)
        matcher = re2.Set.SearchSet(_options())
        for _, _, pattern in owned:
            matcher.Add(pattern)
        try:
            matcher.Compile()
        except re2.error:
            rules = ", ".join(dict.fromkeys(rule for rule, _, _ in owned))
            raise InvalidRule(rules, "too many words or patterns; remove some") from None
        owners = tuple((rule, source) for rule, source, _ in owned)
        return cls(owners, tuple(pattern for _, _, pattern in owned), matcher, group)

    def matches(self, text: str) -> dict[str, tuple[str, str]]:
        """For each rule that matches: its first listed entry that does, and the text matched."""
        hits = self.matcher.Match(text) if self.matcher is not None else None
        found: dict[str, tuple[str, str]] = {}
        for index in sorted(hits or ()):
            rule, source = self.owners[index]
            if rule not in found:
                # Compiled only on a hit: a thousand kept regexps would cost megabytes.
                match = re2.search(self.patterns[index], text, _options())
                found[rule] = (source, match.group(self.group) if match else "")
        return found


def _word_entries(rule: WordsRule) -> list[tuple[str, str, str]]:
    entries = [
        (rule.name, entry, word_pattern(entry))
        for entry in rule.words
        if _ENTRY_WORDS.search(normalise(entry))
    ]
    if not entries:
        raise InvalidRule(rule.name, "the word list has no words")
    return entries


def _regex_entries(rule: RegexRule) -> list[tuple[str, str, str]]:
    if not rule.patterns:
        raise InvalidRule(rule.name, "there are no patterns")
    for pattern in rule.patterns:
        compile_pattern(rule.name, pattern)  # refused here, with RE2's own message
    return [(rule.name, pattern, pattern) for pattern in rule.patterns]


def _validate(rule: AnyRule) -> None:
    if not rule.name.strip():
        raise InvalidRule(rule.name, "a rule needs a name")
    for attribute in ("count", "accounts"):
        value = getattr(rule, attribute, None)
        if value is not None and value < 1:
            raise InvalidRule(rule.name, f"{attribute} must be at least 1, not {value}")
    seconds = getattr(rule, "seconds", None)
    if seconds is not None and seconds <= 0:
        raise InvalidRule(rule.name, f"the window must be longer than 0 seconds, not {seconds}")


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A guild's rules, validated and compiled; build a new one when the config changes.

    Raises :class:`InvalidRule` for a rule that cannot work: a pattern RE2 refuses
    (with RE2's message), an empty list, a count below 1, a window of 0 seconds, or
    two rules with one name (counters and cases are keyed by the name).
    """

    config: AutomodConfig
    words: _Matcher = field(default_factory=_Matcher)
    raw_patterns: _Matcher = field(default_factory=_Matcher)
    normalised_patterns: _Matcher = field(default_factory=_Matcher)

    @classmethod
    def build(cls, config: AutomodConfig) -> RuleSet:
        words: list[tuple[str, str, str]] = []
        raw: list[tuple[str, str, str]] = []
        normalised: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for rule in config.rules:
            _validate(rule)
            if rule.name in seen:
                raise InvalidRule(rule.name, "two rules have this name")
            seen.add(rule.name)
            if isinstance(rule, WordsRule):
                words += _word_entries(rule)
            elif isinstance(rule, RegexRule):
                (normalised if rule.normalised else raw).extend(_regex_entries(rule))
        return cls(
            config,
            _Matcher.build(words, group=1),
            _Matcher.build(raw, group=0),
            _Matcher.build(normalised, group=0),
        )


class _Window:
    """Recent events per key over one rule's window, each key bounded to ``limit``."""

    __slots__ = ("_burst_at", "_events", "_swept_at", "limit", "seconds")

    def __init__(self, seconds: float, limit: int) -> None:
        self.seconds = seconds
        self.limit = limit
        self._events: dict[Hashable, deque[tuple[float, int, int]]] = {}
        self._burst_at: dict[Hashable, float] = {}
        self._swept_at = float("-inf")

    def add(self, key: Hashable, at: float, message_id: int, weight: int = 1) -> list[int]:
        """Record an event; return the message ids of the key's events still in the window.

        With a weight (mentions), an id appears once per counted unit, so the list's
        length is the window's total.
        """
        self._sweep(at)
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque(maxlen=self.limit)
        events.append((at, message_id, weight))
        while events and events[0][0] <= at - self.seconds:
            events.popleft()
        return [event[1] for event in events for _ in range(event[2])]

    def continues_burst(self, key: Hashable, at: float) -> bool:
        """Whether this key already matched within the window; marks it as matching now."""
        self._sweep(at)
        previous = self._burst_at.get(key)
        self._burst_at[key] = at
        return previous is not None and at - previous < self.seconds

    def _sweep(self, now: float) -> None:
        if now - self._swept_at < self.seconds:
            return
        self._swept_at = now
        horizon = now - self.seconds
        self._events = {k: v for k, v in self._events.items() if v and v[-1][0] > horizon}
        self._burst_at = {k: t for k, t in self._burst_at.items() if t > horizon}

    def __len__(self) -> int:
        return len(self._events)


class _Senders:
    """Per text, the latest message of each of the last ``limit`` members who sent it."""

    __slots__ = ("_by_text", "_swept_at", "limit", "seconds", "window")

    def __init__(self, seconds: float, limit: int) -> None:
        self.seconds = seconds
        self.limit = limit
        self._by_text: dict[int, dict[int, tuple[float, int]]] = {}
        self._swept_at = float("-inf")
        self.window = _Window(seconds, 1)  # only for continues_burst

    def add(self, text: str, at: float, member_id: int, message_id: int) -> dict[int, int]:
        """Record a member's message; return the members (to their message) still in window."""
        horizon = at - self.seconds
        if at - self._swept_at >= self.seconds:
            self._swept_at = at
            self._by_text = {
                key: senders
                for key, senders in self._by_text.items()
                if any(sent > horizon for sent, _ in senders.values())
            }
        senders = self._by_text.setdefault(hash(text), {})
        senders.pop(member_id, None)
        senders[member_id] = (at, message_id)  # insertion order is sending order
        for member in list(senders):  # oldest first; the newest is always kept
            if len(senders) <= self.limit and senders[member][0] > horizon:
                break
            del senders[member]
        return {member: message for member, (_, message) in senders.items()}

    def __len__(self) -> int:
        return len(self._by_text)


@dataclass(slots=True)
class _Message:
    """One message under evaluation; each form of its text is computed at most once."""

    facts: MessageFacts
    rules: RuleSet
    strict: dict[str, bool] = field(default_factory=dict)
    _normalised: str | None = None
    _word_hits: dict[str, tuple[str, str]] | None = None
    _pattern_hits: dict[str, tuple[str, str]] | None = None

    @property
    def normalised(self) -> str:
        if self._normalised is None:
            self._normalised = normalise(self.facts.text)
        return self._normalised

    @property
    def word_hits(self) -> dict[str, tuple[str, str]]:
        if self._word_hits is None:
            self._word_hits = self.rules.words.matches(word_string(self.normalised))
        return self._word_hits

    @property
    def pattern_hits(self) -> dict[str, tuple[str, str]]:
        if self._pattern_hits is None:
            self._pattern_hits = self.rules.raw_patterns.matches(self.facts.text)
            if self.rules.normalised_patterns.matcher is not None:
                self._pattern_hits |= self.rules.normalised_patterns.matches(self.normalised)
        return self._pattern_hits

    def threshold(self, rule: Rule, threshold: int) -> int:
        if rule.stricter is None:
            return threshold
        if rule.name not in self.strict:
            self.strict[rule.name] = rule.stricter.applies_to(self.facts.author, self.facts.sent_at)
        return rule.stricter.threshold(threshold) if self.strict[rule.name] else threshold


def _exempt(roles: frozenset[int], channels: frozenset[int], facts: MessageFacts) -> bool:
    if roles and not roles.isdisjoint(facts.author.role_ids):
        return True
    return bool(channels) and any(
        channel in channels for channel in (facts.channel_id, facts.parent_id, facts.category_id)
    )


def _ignored_author(config: AutomodConfig, author: AuthorFacts) -> bool:
    return (config.ignore_bots and author.is_bot) or (
        config.ignore_moderators and author.is_moderator
    )


class GuildAutomod:
    """One guild's automod: its compiled rules and the counters its windows need.

    Not thread-safe and not meant to be: a guild is handled by the one process (and
    event loop) that owns its shard.
    """

    def __init__(self, rules: RuleSet) -> None:
        self._rules = rules
        self._windows: dict[str, _Window] = {}
        self._senders: dict[str, _Senders] = {}

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def reconfigure(self, rules: RuleSet) -> None:
        """Use a new rule set; counters of rules that kept their name survive.

        A counter whose rule changed its window or threshold starts afresh.
        """
        kept = {rule.name: rule for rule in rules.config.rules}
        old = {rule.name: rule for rule in self._rules.config.rules}
        self._windows = {n: w for n, w in self._windows.items() if kept.get(n) == old.get(n)}
        self._senders = {n: s for n, s in self._senders.items() if kept.get(n) == old.get(n)}
        self._rules = rules

    def counted_keys(self) -> int:
        """How many keys the counters hold, over every rule (to watch memory)."""
        return sum(map(len, self._windows.values())) + sum(map(len, self._senders.values()))

    def evaluate(self, facts: MessageFacts) -> list[Verdict]:
        """Every rule this message breaks, in the order the rules are configured.

        An edit is checked by the rules that look at one message's content; it does
        not count again towards bursts, duplicates or mention rates.
        """
        config = self._rules.config
        if _ignored_author(config, facts.author):
            return []
        if _exempt(config.exempt_roles, config.exempt_channels, facts):
            return []
        message = _Message(facts, self._rules)
        verdicts = []
        for rule in config.rules:
            if (rule.exempt_roles or rule.exempt_channels) and _exempt(
                rule.exempt_roles, rule.exempt_channels, facts
            ):
                continue
            verdict = self._check(rule, message)
            if verdict is not None:
                verdicts.append(verdict)
        return verdicts

    def _check(self, rule: AnyRule, message: _Message) -> Verdict | None:
        facts = message.facts
        if isinstance(rule, WordsRule | RegexRule):
            hits = message.word_hits if isinstance(rule, WordsRule) else message.pattern_hits
            found = hits.get(rule.name)
            return _content_verdict(rule, facts, *found) if found else None
        if isinstance(rule, EveryoneRule):
            if facts.mentions_everyone and not facts.author.may_mention_everyone:
                return Verdict(rule.name, rule.kind, (facts.message_id,), matched="@everyone")
            return None
        if isinstance(rule, MentionsRule):
            return self._mentions(rule, message)
        if facts.edited:
            return None
        if isinstance(rule, BurstRule):
            key = (facts.author.user_id, facts.channel_id if rule.per_channel else None)
            return self._counted(rule, message, key, rule.count)
        if isinstance(rule, DuplicatesRule):
            if not message.normalised:
                return None
            key = (facts.author.user_id, hash(message.normalised))
            return self._counted(rule, message, key, rule.count)
        return self._shared(rule, message)

    def _window(self, rule: Rule, seconds: float, limit: int) -> _Window:
        window = self._windows.get(rule.name)
        if window is None:
            window = self._windows[rule.name] = _Window(seconds, limit)
        return window

    def _counted(
        self, rule: BurstRule | DuplicatesRule, message: _Message, key: Hashable, count: int
    ) -> Verdict | None:
        facts = message.facts
        window = self._window(rule, rule.seconds, count)
        ids = window.add(key, facts.at, facts.message_id)
        threshold = message.threshold(rule, count)
        if len(ids) >= threshold:
            return Verdict(
                rule.name,
                rule.kind,
                tuple(ids),
                matched=_fragment(message.normalised) if isinstance(rule, DuplicatesRule) else None,
                count=len(ids),
                threshold=threshold,
                seconds=rule.seconds,
                continues_burst=window.continues_burst(key, facts.at),
                member_ids=(facts.author.user_id,),
            )
        return None

    def _mentions(self, rule: MentionsRule, message: _Message) -> Verdict | None:
        facts = message.facts
        mentions = facts.user_mentions + facts.role_mentions
        threshold = message.threshold(rule, rule.count)
        if rule.seconds is None or facts.edited:
            counted, ids, continues = mentions, [facts.message_id], False
        else:
            if mentions == 0:
                return None
            key = facts.author.user_id
            window = self._window(rule, rule.seconds, rule.count)
            units = window.add(key, facts.at, facts.message_id, weight=mentions)
            counted, ids = len(units), list(dict.fromkeys(units))
            continues = counted >= threshold and window.continues_burst(key, facts.at)
        if counted >= threshold:
            return Verdict(
                rule.name,
                rule.kind,
                tuple(ids),
                count=counted,
                threshold=threshold,
                seconds=rule.seconds,
                continues_burst=continues,
                member_ids=(facts.author.user_id,),
            )
        return None

    def _shared(self, rule: SharedDuplicatesRule, message: _Message) -> Verdict | None:
        facts = message.facts
        text = message.normalised
        if len(text) < rule.min_length:
            return None
        senders = self._senders.get(rule.name)
        if senders is None:
            senders = self._senders[rule.name] = _Senders(rule.seconds, rule.accounts)
        latest = senders.add(text, facts.at, facts.author.user_id, facts.message_id)
        if len(latest) >= rule.accounts:
            return Verdict(
                rule.name,
                rule.kind,
                tuple(latest.values()),
                matched=_fragment(text),
                count=len(latest),
                threshold=rule.accounts,
                seconds=rule.seconds,
                continues_burst=senders.window.continues_burst(hash(text), facts.at),
                member_ids=tuple(latest),
            )
        return None


def _content_verdict(rule: Rule, facts: MessageFacts, matched: str, fragment: str) -> Verdict:
    return Verdict(
        rule.name,
        rule.kind,
        (facts.message_id,),
        matched=matched,
        fragment=_fragment(fragment),
        member_ids=(facts.author.user_id,),
    )


def _fragment(text: str) -> str:
    return text if len(text) <= FRAGMENT_LIMIT else text[: FRAGMENT_LIMIT - 1] + "…"


__all__ = [
    "FRAGMENT_LIMIT",
    "GuildAutomod",
    "RuleSet",
    "compile_pattern",
    "word_pattern",
    "word_string",
]
