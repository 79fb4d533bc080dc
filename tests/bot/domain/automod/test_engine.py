"""The automod engine, driven by plain facts and an injected monotonic time."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.automod.engine import FRAGMENT_LIMIT, GuildAutomod, RuleSet
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
    RuleKind,
    SharedDuplicatesRule,
    Stricter,
    Verdict,
    WordsRule,
)

GUILD, CHANNEL, OTHER_CHANNEL, THREAD, CATEGORY = 1, 10, 11, 12, 13
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
MEMBER = AuthorFacts(
    user_id=100,
    joined_at=NOW - timedelta(days=300),
    account_created_at=NOW - timedelta(days=900),
)
_ids = itertools.count(1000)


def message(
    text: str = "hello",
    at: float = 0.0,
    author: AuthorFacts = MEMBER,
    channel_id: int = CHANNEL,
    **facts: object,
) -> MessageFacts:
    return MessageFacts(
        guild_id=GUILD,
        channel_id=channel_id,
        message_id=next(_ids),
        author=author,
        text=text,
        at=at,
        sent_at=NOW,
        **facts,  # type: ignore[arg-type]
    )


def automod(*rules: AnyRule, **config: object) -> GuildAutomod:
    return GuildAutomod(RuleSet.build(AutomodConfig(rules=rules, **config)))  # type: ignore[arg-type]


def member(user_id: int, **facts: object) -> AuthorFacts:
    return replace(MEMBER, user_id=user_id, **facts)  # type: ignore[arg-type]


def names(verdicts: list[Verdict]) -> list[str]:
    return [verdict.rule for verdict in verdicts]


# -- Bursts ------------------------------------------------------------------------------------


def test_a_burst_matches_at_the_threshold_with_every_message_of_it() -> None:
    engine = automod(BurstRule(name="flood", count=3, seconds=5))
    sent = [message(at=t) for t in (0.0, 1.0, 2.0)]
    results = [engine.evaluate(m) for m in sent]
    assert results[:2] == [[], []]
    (verdict,) = results[2]
    assert verdict.kind is RuleKind.BURST
    assert verdict.message_ids == tuple(m.message_id for m in sent)
    assert (verdict.count, verdict.threshold, verdict.seconds) == (3, 3, 5)
    assert verdict.member_ids == (MEMBER.user_id,)
    assert not verdict.continues_burst


def test_the_rest_of_a_burst_continues_it() -> None:
    engine = automod(BurstRule(name="flood", count=2, seconds=5))
    verdicts = [engine.evaluate(message(at=t)) for t in (0.0, 1.0, 2.0, 3.0)]
    assert [v[0].continues_burst for v in verdicts[1:]] == [False, True, True]
    # Long after, a new burst is a new match.
    later = [engine.evaluate(message(at=t)) for t in (100.0, 100.5)]
    assert later[0] == []
    assert not later[1][0].continues_burst


def test_messages_older_than_the_window_do_not_count() -> None:
    engine = automod(BurstRule(name="flood", count=3, seconds=5))
    assert engine.evaluate(message(at=0.0)) == []
    assert engine.evaluate(message(at=4.0)) == []
    assert engine.evaluate(message(at=5.0)) == []  # the first left the window at 5.0
    assert names(engine.evaluate(message(at=6.0))) == ["flood"]


def test_a_per_channel_burst_counts_each_channel_apart() -> None:
    per_channel = automod(BurstRule(name="flood", count=2, seconds=5, per_channel=True))
    anywhere = automod(BurstRule(name="flood", count=2, seconds=5))
    for engine, expected in ((per_channel, []), (anywhere, ["flood"])):
        engine.evaluate(message(at=0.0, channel_id=CHANNEL))
        assert names(engine.evaluate(message(at=1.0, channel_id=OTHER_CHANNEL))) == expected


def test_members_are_counted_apart() -> None:
    engine = automod(BurstRule(name="flood", count=2, seconds=5))
    assert engine.evaluate(message(at=0.0, author=member(1))) == []
    assert engine.evaluate(message(at=0.1, author=member(2))) == []


def test_an_edit_does_not_count_towards_a_burst() -> None:
    engine = automod(BurstRule(name="flood", count=2, seconds=5))
    engine.evaluate(message(at=0.0))
    assert engine.evaluate(message(at=1.0, edited=True)) == []


# -- Duplicates --------------------------------------------------------------------------------


def test_the_same_text_from_one_member_matches_after_normalisation() -> None:
    engine = automod(DuplicatesRule(name="repeat", count=3, seconds=30))
    texts = ["Buy cheap stuff", "buy   CHEAP stuff", "bu\u200by ch\u0435ap stuff"]
    results = [engine.evaluate(message(text, at=float(i))) for i, text in enumerate(texts)]
    assert results[:2] == [[], []]
    (verdict,) = results[2]
    assert (verdict.kind, verdict.matched, verdict.count) == (
        RuleKind.DUPLICATES,
        "buy cheap stuff",
        3,
    )
    assert len(verdict.message_ids) == 3


def test_different_texts_are_not_duplicates() -> None:
    engine = automod(DuplicatesRule(name="repeat", count=2, seconds=30))
    assert engine.evaluate(message("one", at=0.0)) == []
    assert engine.evaluate(message("two", at=1.0)) == []
    assert engine.evaluate(message("", at=2.0)) == []
    assert engine.evaluate(message("", at=3.0)) == []  # attachments only: no text to compare


def test_duplicates_expire_with_their_window() -> None:
    engine = automod(DuplicatesRule(name="repeat", count=2, seconds=10))
    engine.evaluate(message("spam spam", at=0.0))
    assert engine.evaluate(message("spam spam", at=10.5)) == []
    assert names(engine.evaluate(message("spam spam", at=11.0))) == ["repeat"]


def test_the_same_text_from_several_accounts_is_a_distributed_raid() -> None:
    engine = automod(SharedDuplicatesRule(name="raid", accounts=3, seconds=60))
    text = "join my server for free nitro"
    sent = [message(text, at=float(i), author=member(i)) for i in (1, 2, 3)]
    results = [engine.evaluate(m) for m in sent]
    assert results[:2] == [[], []]
    (verdict,) = results[2]
    assert verdict.kind is RuleKind.SHARED_DUPLICATES
    assert verdict.member_ids == (1, 2, 3)
    assert verdict.message_ids == tuple(m.message_id for m in sent)
    assert (verdict.count, verdict.threshold) == (3, 3)
    fourth = engine.evaluate(message(text.upper(), at=4.0, author=member(4)))
    assert fourth[0].continues_burst
    assert fourth[0].member_ids == (2, 3, 4)  # the last `accounts` senders


def test_one_account_repeating_itself_is_not_a_distributed_raid() -> None:
    engine = automod(SharedDuplicatesRule(name="raid", accounts=2, seconds=60))
    text = "join my server for free nitro"
    assert engine.evaluate(message(text, at=0.0)) == []
    assert engine.evaluate(message(text, at=1.0)) == []


def test_distributed_duplicates_expire_and_short_texts_are_ignored() -> None:
    engine = automod(SharedDuplicatesRule(name="raid", accounts=2, seconds=60, min_length=5))
    assert engine.evaluate(message("hi", at=0.0, author=member(1))) == []
    assert engine.evaluate(message("hi", at=1.0, author=member(2))) == []
    engine.evaluate(message("hello there", at=0.0, author=member(1)))
    assert engine.evaluate(message("hello there", at=61.0, author=member(2))) == []
    assert names(engine.evaluate(message("hello there", at=62.0, author=member(3)))) == ["raid"]


# -- Mentions ----------------------------------------------------------------------------------


def test_mentions_in_one_message_count_users_and_roles() -> None:
    engine = automod(MentionsRule(name="pings", count=5))
    assert engine.evaluate(message(user_mentions=3, role_mentions=1)) == []
    (verdict,) = engine.evaluate(message(user_mentions=3, role_mentions=2))
    assert (verdict.kind, verdict.count, verdict.threshold) == (RuleKind.MENTIONS, 5, 5)


def test_mentions_over_a_window_add_up() -> None:
    engine = automod(MentionsRule(name="pings", count=5, seconds=10))
    first = message(at=0.0, user_mentions=2)
    assert engine.evaluate(first) == []
    assert engine.evaluate(message(at=1.0)) == []
    third = message(at=2.0, user_mentions=3)
    (verdict,) = engine.evaluate(third)
    assert verdict.message_ids == (first.message_id, third.message_id)
    assert verdict.count == 5
    assert engine.evaluate(message(at=11.0, user_mentions=1)) == []  # the first expired


def test_everyone_needs_the_permission() -> None:
    engine = automod(EveryoneRule(name="everyone"))
    assert names(engine.evaluate(message(mentions_everyone=True))) == ["everyone"]
    allowed = member(5, may_mention_everyone=True)
    assert engine.evaluate(message(mentions_everyone=True, author=allowed)) == []
    assert engine.evaluate(message("no ping")) == []


# -- Words ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entry", "fragment"),
    [
        ("this is SPAM", "spam", "spam"),
        ("spam, again", "spam", "spam"),
        ("what a sp\u0430m", "spam", "spam"),  # Cyrillic a
        ("s\u200bpam", "spam", "spam"),
        ("\uff53\uff50\uff41\uff4d!", "spam", "spam"),
        ("total spammer", "spam*", "spammer"),
        ("free bitcoin", "*coin", "bitcoin"),
        ("FREE   NITRO here", "free nitro", "free nitro"),
        ("5p4m", "spam", "spam"),
    ],
)
def test_word_lists_match_whole_normalised_words(text: str, entry: str, fragment: str) -> None:
    engine = automod(WordsRule(name="words", words=("other", entry)))
    (verdict,) = engine.evaluate(message(text))
    assert (verdict.kind, verdict.matched, verdict.fragment) == (RuleKind.WORDS, entry, fragment)


@pytest.mark.parametrize("text", ["spammer", "antispam", "sp am", "", "nothing here"])
def test_a_word_does_not_match_inside_other_words(text: str) -> None:
    engine = automod(WordsRule(name="words", words=("spam",)))
    assert engine.evaluate(message(text)) == []


def test_a_wildcard_stays_inside_one_word() -> None:
    engine = automod(WordsRule(name="words", words=("free*coin",)))
    assert engine.evaluate(message("free coin")) == []
    assert names(engine.evaluate(message("freebitcoin"))) == ["words"]


def test_a_bare_wildcard_matches_any_word_but_not_silence() -> None:
    engine = automod(WordsRule(name="words", words=("*",)))
    assert names(engine.evaluate(message("anything"))) == ["words"]
    assert engine.evaluate(message("  ")) == []


def test_the_first_listed_entry_is_reported() -> None:
    engine = automod(WordsRule(name="words", words=("alpha", "beta")))
    (verdict,) = engine.evaluate(message("beta then alpha"))
    assert verdict.matched == "alpha"


# -- Regular expressions ----------------------------------------------------------------------


def test_a_pattern_matches_the_raw_text_or_on_request_the_normalised_one() -> None:
    raw = automod(RegexRule(name="re", patterns=(r"discord\.gift/\w+",)))
    normalised = automod(RegexRule(name="re", patterns=(r"free nitro",), normalised=True))
    (verdict,) = raw.evaluate(message("get discord.gift/abc now"))
    assert (verdict.kind, verdict.matched, verdict.fragment) == (
        RuleKind.REGEX,
        r"discord\.gift/\w+",
        "discord.gift/abc",
    )
    assert raw.evaluate(message("DISCORD.GIFT/abc")) == []
    assert names(normalised.evaluate(message("FREE  N1TRO"))) == ["re"]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(?<=a)b", "invalid perl operator: (?<="),
        (r"(a)\1", "invalid escape sequence: \\1"),
        (r"a{1001}", "invalid repetition size: {1001}"),
        (r"(unclosed", "missing ): (unclosed"),
    ],
)
def test_a_pattern_re2_cannot_compile_is_refused_with_its_message(
    pattern: str, reason: str
) -> None:
    with pytest.raises(InvalidRule) as refused:
        automod(RegexRule(name="bad", patterns=("fine", pattern)))
    assert refused.value.rule == "bad"
    assert str(refused.value) == f"automod rule 'bad': pattern {pattern!r} is refused: {reason}"


@pytest.mark.parametrize(
    ("pattern", "text"),
    [(r"(a+)+$", "a" * 3999 + "!"), (r"(x+x+)+y", "x" * 4000), (r"(.*a){20}", "a" * 4000)],
)
def test_a_pathological_pattern_is_decided_quickly(pattern: str, text: str) -> None:
    """Backtracking engines take years on these; RE2 is linear in the text."""
    engine = automod(RegexRule(name="re", patterns=(pattern,)))
    started = time.perf_counter()
    verdicts = engine.evaluate(message(text))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.050
    assert names(verdicts) == (["re"] if pattern == r"(.*a){20}" else [])


def test_a_long_match_is_kept_bounded() -> None:
    engine = automod(RegexRule(name="re", patterns=(r"a+",)))
    (verdict,) = engine.evaluate(message("a" * 4000))
    assert verdict.fragment is not None
    assert len(verdict.fragment) == FRAGMENT_LIMIT


# -- Building rule sets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (BurstRule(name="b", count=0, seconds=5), "count must be at least 1, not 0"),
        (BurstRule(name="b", count=3, seconds=0), "the window must be longer than 0 seconds"),
        (SharedDuplicatesRule(name="b", accounts=0, seconds=5), "accounts must be at least 1"),
        (WordsRule(name="b", words=(" ",)), "the word list has no words"),
        (RegexRule(name="b", patterns=()), "there are no patterns"),
        (BurstRule(name=" ", count=3, seconds=5), "a rule needs a name"),
    ],
)
def test_a_rule_that_cannot_work_is_refused(rule: AnyRule, reason: str) -> None:
    with pytest.raises(InvalidRule, match=reason):
        RuleSet.build(AutomodConfig(rules=(rule,)))


def test_two_rules_cannot_share_a_name() -> None:
    rules = (BurstRule(name="x", count=3, seconds=5), EveryoneRule(name="x"))
    with pytest.raises(InvalidRule, match="two rules have this name"):
        RuleSet.build(AutomodConfig(rules=rules))


def test_a_stricter_factor_must_lower_thresholds() -> None:
    with pytest.raises(InvalidRule, match="factor must be above 0 and at most 1"):
        Stricter(factor=2)


def test_rules_answer_in_their_configured_order() -> None:
    engine = automod(
        WordsRule(name="words", words=("spam",)),
        MentionsRule(name="pings", count=1),
        EveryoneRule(name="everyone"),
    )
    verdicts = engine.evaluate(message("spam", user_mentions=1, mentions_everyone=True))
    assert names(verdicts) == ["words", "pings", "everyone"]


# -- Exemptions -------------------------------------------------------------------------------


def test_bots_and_moderators_are_ignored_by_default() -> None:
    rule = WordsRule(name="words", words=("spam",))
    engine = automod(rule)
    assert engine.evaluate(message("spam", author=member(1, is_bot=True))) == []
    assert engine.evaluate(message("spam", author=member(2, is_moderator=True))) == []
    strict = automod(rule, ignore_bots=False, ignore_moderators=False)
    assert names(strict.evaluate(message("spam", author=member(1, is_bot=True)))) == ["words"]
    assert names(strict.evaluate(message("spam", author=member(2, is_moderator=True)))) == ["words"]


def test_guild_wide_exemptions_cover_roles_channels_threads_and_categories() -> None:
    engine = automod(
        WordsRule(name="words", words=("spam",)),
        exempt_roles=frozenset({77}),
        exempt_channels=frozenset({OTHER_CHANNEL, CATEGORY}),
    )
    assert engine.evaluate(message("spam", author=member(1, role_ids=frozenset({77})))) == []
    assert engine.evaluate(message("spam", channel_id=OTHER_CHANNEL)) == []
    assert engine.evaluate(message("spam", channel_id=THREAD, parent_id=OTHER_CHANNEL)) == []
    assert engine.evaluate(message("spam", category_id=CATEGORY)) == []
    assert names(engine.evaluate(message("spam"))) == ["words"]


def test_a_rules_own_exemptions_leave_other_rules_alone() -> None:
    engine = automod(
        WordsRule(name="words", words=("spam",), exempt_channels=frozenset({OTHER_CHANNEL})),
        EveryoneRule(name="everyone", exempt_roles=frozenset({77})),
    )
    in_thread = message("spam", channel_id=THREAD, parent_id=OTHER_CHANNEL, mentions_everyone=True)
    assert names(engine.evaluate(in_thread)) == ["everyone"]
    with_role = message("spam", author=member(1, role_ids=frozenset({77})), mentions_everyone=True)
    assert names(engine.evaluate(with_role)) == ["words"]


# -- Stricter conditions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "suspicious",
    [
        member(1, joined_at=NOW - timedelta(minutes=5)),
        member(1, account_created_at=NOW - timedelta(days=2)),
        member(1, has_avatar=False),
    ],
)
def test_suspicious_members_meet_lower_thresholds(suspicious: AuthorFacts) -> None:
    stricter = Stricter(
        factor=0.5,
        joined_within=timedelta(hours=1),
        account_younger_than=timedelta(days=7),
        without_avatar=True,
    )
    rule = BurstRule(name="flood", count=4, seconds=10, stricter=stricter)
    engine = automod(rule)
    engine.evaluate(message(at=0.0, author=suspicious))
    (verdict,) = engine.evaluate(message(at=1.0, author=suspicious))
    assert (verdict.count, verdict.threshold) == (2, 2)
    regular = automod(rule)
    regular.evaluate(message(at=0.0))
    assert regular.evaluate(message(at=1.0)) == []


def test_a_condition_left_unset_does_not_apply() -> None:
    stricter = Stricter(joined_within=timedelta(hours=1))
    engine = automod(MentionsRule(name="pings", count=4, stricter=stricter))
    no_avatar = member(1, has_avatar=False, joined_at=None)
    assert engine.evaluate(message(user_mentions=2, author=no_avatar)) == []
    newcomer = member(2, joined_at=NOW - timedelta(minutes=1))
    assert names(engine.evaluate(message(user_mentions=2, author=newcomer))) == ["pings"]


# -- Counters ---------------------------------------------------------------------------------


def test_counters_forget_quiet_members() -> None:
    engine = automod(
        BurstRule(name="flood", count=5, seconds=10),
        SharedDuplicatesRule(name="raid", accounts=5, seconds=10),
    )
    for user_id in range(500):
        engine.evaluate(message("the same long text", at=user_id * 0.01, author=member(user_id)))
    assert engine.counted_keys() == 501  # 500 members' bursts, one shared text
    engine.evaluate(message("something else entirely", at=100.0, author=member(9999)))
    assert engine.counted_keys() == 2


def test_a_burst_keeps_at_most_a_thresholds_worth_of_messages() -> None:
    engine = automod(BurstRule(name="flood", count=3, seconds=1000))
    verdicts = [engine.evaluate(message(at=float(t))) for t in range(50)]
    assert all(len(v[0].message_ids) == 3 for v in verdicts[2:])


def test_reconfiguring_keeps_the_counters_of_unchanged_rules_only() -> None:
    flood = BurstRule(name="flood", count=2, seconds=10)
    repeat = DuplicatesRule(name="repeat", count=2, seconds=10)
    engine = automod(flood, repeat)
    engine.evaluate(message("again", at=0.0))
    engine.reconfigure(RuleSet.build(AutomodConfig(rules=(flood, replace(repeat, seconds=20)))))
    assert names(engine.evaluate(message("again", at=1.0))) == ["flood"]


def test_a_thousand_words_over_several_rules_each_answer_for_their_own() -> None:
    lists = [tuple(f"w{rule}x{word}" for word in range(100)) for rule in range(10)]
    engine = automod(*(WordsRule(name=f"list{i}", words=words) for i, words in enumerate(lists)))
    verdicts = engine.evaluate(message("hello W3X42 and w7x99 and w7x5, bye"))
    assert [(v.rule, v.matched) for v in verdicts] == [("list3", "w3x42"), ("list7", "w7x5")]
    assert engine.evaluate(message("w3x420 xw3x42")) == []


def test_word_lists_and_patterns_of_different_rules_match_together() -> None:
    engine = automod(
        WordsRule(name="words", words=("scam",)),
        RegexRule(name="raw", patterns=(r"[A-Z]{5}",)),
        RegexRule(name="normalised", patterns=(r"\bscam\b",), normalised=True),
    )
    verdicts = engine.evaluate(message("SC\u0410M"))  # Cyrillic A
    assert [(v.rule, v.fragment) for v in verdicts] == [
        ("words", "scam"),
        ("normalised", "scam"),
    ]
