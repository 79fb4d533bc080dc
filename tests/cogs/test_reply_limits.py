"""Every reply, mod-log post and DM fits Discord, rendered with the longest inputs
Lockdown accepts: 1,000-character reasons, 500-character appeal texts, 100-character
guild and display names, 20-digit ids, case numbers up to 2^31, and long lists.

A reply over a limit is refused by Discord as a whole, so the moderator would see
nothing but an error, and a case too long to show could never be viewed again.
"""

from __future__ import annotations

import inspect
import json
import unicodedata
from dataclasses import fields
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.discord_side import limits
from bot.discord_side.limits import case_marker, cut
from bot.discord_side.rest import RestActions, modlog_embed
from bot.domain.access import Participant
from bot.domain.config import GuildConfig
from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import Case, Change, EscalationPolicy
from bot.domain.permissions import Permission
from bot.domain.ports import ModLogEntry
from bot.domain.reasons import MAX_REASON
from bot.infra.cache import CacheStats
from bot.services import acting
from bot.services.acting import Outcome
from bot.services.massban import MassBanOutcome
from bot.services.status import ProcessStatus
from cogs._actions import confirmation
from cogs._adapters import describe
from cogs._render import PageView, Reply, fit_lines, pages, paginate
from cogs.bans import FAILURES_FILE, MassBanConfirmation, massban_result
from cogs.cases import HistoryPages, case_details
from cogs.changes import recent_changes
from cogs.configuration import MAX_APPEAL, ROLES_FILE, describe_config
from cogs.policies import ladder_list
from cogs.status import describe as describe_status
from cogs.warnings import pardon_reply, warnings_list
from tests.cogs.fits import assert_embed_fits, assert_fits

MAX_ID = 18_446_744_073_709_551_615  # a snowflake's 20 digits
MAX_NUMBER = 2**31 - 1
FAR = datetime(9999, 12, 31, tzinfo=UTC)  # the widest timestamps
GUILD_NAME = "G" * 100
DISPLAY_NAME = "D" * 100
#: Every kind of character a reason may hold: mentions, markup, newlines, emoji.
REASON_PIECE = "spam <@&123456789012345678> **bold** `code`\nlink 👨‍👩‍👧 e\u0301 "
REASON = (REASON_PIECE * (MAX_REASON // len(REASON_PIECE) + 1))[:MAX_REASON]
PLAIN_REASON = "x" * MAX_REASON


def make_case(**values: Any) -> Case:
    """The widest case: every optional line present, every number at its longest.
    Fields added to `Case` later default to None."""
    base: dict[str, Any] = {
        "guild_id": MAX_ID,
        "number": MAX_NUMBER,
        "type": Action.SOFTBAN,
        "target_id": MAX_ID,
        "moderator_id": MAX_ID,
        "created_at": FAR,
        "reason": REASON,
        "expires_at": FAR,
        "state": CaseState.ACTIVE,
        "dm_delivered": False,
        "audit_log_entry_id": MAX_ID,
        "related_number": MAX_NUMBER,
        "revoked_at": FAR,
        "revoked_by": MAX_ID,
        "revoke_reason": REASON,
        "renew_at": FAR,
    }
    base.update(values)
    return Case(**{f.name: base.get(f.name) for f in fields(Case)})


def longest_user() -> discord.User:
    """`str(user)` at its longest: a 32-character name with a legacy discriminator."""
    data: Any = {
        "id": str(MAX_ID),
        "username": "u" * 32,
        "discriminator": "9999",
        "avatar": None,
        "global_name": DISPLAY_NAME,
    }
    return discord.User(state=None, data=data)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the helpers


@pytest.mark.parametrize("limit", [1, 2, 5, 40, 100, 1024, 2000])
@pytest.mark.parametrize("text", [REASON, PLAIN_REASON * 3, "👨‍👩‍👧" * 800, "e\u0301" * 1500])
def test_cut_fits_marks_and_never_splits_a_character(text: str, limit: int) -> None:
    marker = case_marker(MAX_NUMBER)
    for mark in ("…", marker):
        shown = cut(text, limit, mark)
        assert len(shown) <= limit
        if len(text) <= limit:
            assert shown == text
            continue
        if len(mark) < limit:
            assert shown.endswith(mark)
            kept = shown[: -len(mark)]
            assert text.startswith(kept)
            if kept:
                assert kept[-1] != "\u200d", "a joiner without what it joins"
                following = text[len(kept)]
                assert following != "\u200d"
                assert unicodedata.category(following) != "Mn", "a mark without its letter"


def test_cut_keeps_mentions_and_timestamps_whole() -> None:
    text = "see <t:253402300799:R> and <@&123456789012345678> then more words"
    for limit in range(5, len(text)):
        kept = cut(text, limit).removesuffix("…")
        assert kept.count("<") == kept.count(">"), kept


def test_cut_never_splits_a_surrogate_pair() -> None:
    """Python strings hold code points, but text decoded with `surrogatepass` can carry
    pairs; the cut never separates their halves."""
    text = "ab" + "\ud83d\ude00" * 10
    for limit in range(2, 15):
        kept = cut(text, limit).removesuffix("…")
        assert not kept or not ("\ud800" <= kept[-1] <= "\udbff"), limit


def test_pages_pack_whole_lines_under_the_limit() -> None:
    lines = [f"line {i} " + "y" * (i * 37 % 400) for i in range(200)]
    packed = pages(lines, 2000)
    assert all(len(page) <= 2000 for page in packed)
    assert "\n".join(packed).split("\n") == lines, "every line whole, in order"
    assert len(packed) > 1
    [alone] = pages(["z" * 5000], 2000)
    assert len(alone) == 2000
    assert alone.endswith("…")
    assert pages([]) == []
    assert all(p.count("\n") < 10 for p in pages(lines, 2000, max_lines=10))


def test_paginate_heads_each_page_with_its_range() -> None:
    lines = [f"entry {i:03} " + "w" * 300 for i in range(40)]
    result = paginate(lines, lambda a, b: f"Entries {a} to {b} of {len(lines)}:")
    assert all(len(page) <= 2000 for page in result)
    assert result[0].startswith("Entries 1 to ")
    seen = [line for page in result for line in page.split("\n")[1:]]
    assert seen == lines


def test_fit_lines_keeps_whole_lines_and_counts_the_rest() -> None:
    text, left = fit_lines([f"{i:04} " + "q" * 95 for i in range(1000)])
    assert len(text) <= 2000
    assert left == 1000 - text.count("\n")
    assert text.endswith(f"…and {left} more.")


# ----------------------------------------------------------------- the replies


@pytest.mark.parametrize("state", list(CaseState))
@pytest.mark.parametrize("reason", [REASON, PLAIN_REASON, None])
def test_case_show_fits_and_keeps_the_full_text_reachable(
    state: CaseState, reason: str | None
) -> None:
    """The reported failure: a 1,000-character reason and a 1,000-character pardon reason."""
    for revoke in (REASON, PLAIN_REASON, None):
        case = make_case(state=state, reason=reason, revoke_reason=revoke)
        reply = case_details(case)
        assert_fits(reply)
        assert f"**#{MAX_NUMBER}** softban" in reply.content
        texts = [t for t in (reason, revoke) if t]
        if (
            len(case_details(make_case(reason="r", revoke_reason="r")).content)
            + sum(len(t) for t in texts)
            <= limits.CONTENT
        ):
            continue
        assert "… (cut; full text below)" in reply.content
        [embed] = reply.embeds
        values = [f.value for f in embed.fields]
        assert values == texts, "every text in full on the embed"


def test_case_show_of_a_short_case_is_plain_text() -> None:
    reply = case_details(make_case(reason="spam", revoke_reason="mistake"))
    assert (reply.embeds, reply.files) == ([], [])
    assert "Reason: spam" in reply.content
    assert reply.content.endswith(": mistake")


def test_a_reason_longer_than_a_field_goes_into_a_file() -> None:
    """Reasons are capped at 1,000 now; one stored before the cap still shows in full."""
    legacy = "L" * 5000
    reply = case_details(make_case(reason=legacy, revoke_reason=REASON))
    assert_fits(reply)
    [attached] = reply.files
    assert attached.name == f"case-{MAX_NUMBER}.txt"
    assert legacy in attached.text
    assert REASON in attached.text
    assert f"case-{MAX_NUMBER}.txt" in reply.embeds[0].fields[0].value


@pytest.mark.parametrize("action", list(Action))
def test_confirmation_fits_with_escalations_and_failures(action: Action) -> None:
    case = make_case(type=action)
    escalation = Outcome(case=make_case(type=Action.BAN), dm_delivered=True)
    outcome = Outcome(
        case=case,
        dm_delivered=False,
        replaced=make_case(),
        escalations=(escalation,) * 25,
        escalation_failures=("Discord rejected the request: " + "e" * 2000,) * 25,
    )
    text = confirmation(action, longest_user(), outcome)
    assert_fits(text)
    assert text.startswith(f"{action.kind.past_tense} {'u' * 32}#9999 (`{MAX_ID}`)")
    assert "more escalation results; see the mod log." in text


def test_confirmation_with_a_few_escalations_lists_them_all() -> None:
    outcome = Outcome(
        case=make_case(type=Action.WARN),
        dm_delivered=True,
        escalations=(Outcome(case=make_case(type=Action.MUTE), dm_delivered=True),),
        escalation_failures=("escalation to ban (policy #3) failed: no",),
    )
    lines = confirmation(Action.WARN, longest_user(), outcome).splitlines()
    assert lines[1:] == [
        f"Escalated: mute · case #{MAX_NUMBER}",
        "Escalation failed: escalation to ban (policy #3) failed: no",
    ]


async def test_history_page_of_ten_fits() -> None:
    page = [make_case(type=t) for t in list(Action) * 2][:10]
    history = SimpleNamespace(
        cases=SimpleNamespace(history=lambda *a, **k: _resolved((page, MAX_NUMBER)))
    )
    view = HistoryPages(history, MAX_ID, longest_user())  # type: ignore[arg-type]
    text = await view.render(Participant(MAX_ID, 0, Permission.MODERATE_MEMBERS))
    assert_fits(Reply(content=text, view=view))
    assert len(text.splitlines()) == 11


async def _resolved(value: Any) -> Any:
    return value


def test_list_lines_are_one_line_and_cut() -> None:
    line = describe(make_case(reason=REASON))
    assert "\n" not in line
    assert line.endswith("…")


@pytest.mark.parametrize("count", [1, 2, 10, 11, 20, 25, 100, 1000])
async def test_warnings_pages_fit_and_say_how_many(count: int) -> None:
    warnings = [
        make_case(type=Action.WARN, number=MAX_NUMBER - i, revoked_at=None) for i in range(count)
    ]
    who = str(longest_user())
    reply = warnings_list(who, warnings)
    assert_fits(reply)
    assert reply.content.startswith(f"{who} has {count} active warning(s):")
    all_pages = reply.view.pages if isinstance(reply.view, PageView) else [reply.content]
    listed = [line for page in all_pages for line in page.splitlines()[1:]]
    assert listed == [describe(w) for w in warnings], "each warning once, newest first"
    if count > 10:
        assert isinstance(reply.view, PageView)
        assert reply.content.startswith(f"{who} has {count} active warning(s): 1 to 10,")
        assert all(page.startswith(f"{who} has {count} active") for page in all_pages)
    else:
        assert reply.view is None


async def test_no_warnings() -> None:
    assert warnings_list("someone", []).content == "someone has no active warnings."


def test_pardon_reply_fits() -> None:
    outcome = Outcome(
        case=make_case(type=Action.PARDON),
        dm_delivered=None,
        replaced=make_case(type=Action.WARN),
        still_in_force=(make_case(type=Action.BAN),) * 200,
    )
    text = pardon_reply(MAX_NUMBER, outcome)
    assert_fits(text)
    assert text.startswith(f"Pardoned case #{MAX_NUMBER} (warn) · case #{MAX_NUMBER}")


def a_change(index: int) -> Change:
    huge = {"reason": REASON, "roles": list(range(250)), "text": '"quoted" \\ ✓' * 50}
    return Change(
        guild_id=MAX_ID,
        id=index,
        actor_id=MAX_ID,
        action="config.set",
        entity="setting",
        entity_id="moderator_role_ids" + "k" * 200,
        created_at=FAR,
        before=huge,
        after=huge,
    )


@pytest.mark.parametrize("count", [1, 2, 5, 25])
async def test_recent_changes_page_whole_entries(count: int) -> None:
    entries = [a_change(i) for i in range(count)]
    reply = recent_changes(entries)
    assert_fits(reply)
    all_pages = reply.view.pages if isinstance(reply.view, PageView) else [reply.content]
    lines = [line for page in all_pages for line in page.splitlines()]
    entry_lines = [line for line in lines if not line.startswith("Changes ")]
    assert len(entry_lines) == count, "each entry whole, on one line, exactly once"
    for line in entry_lines:
        assert line.count("→") == 1
        before = line.split(": ", 1)[1].split(" → ")[0]
        assert before.endswith("…"), "a cut value says it was cut"
        assert len(before) <= 120
    if count > 1 and isinstance(reply.view, PageView):
        assert all_pages[0].startswith("Changes 1 to ")


def test_recent_changes_of_short_values_are_shown_whole() -> None:
    entry = Change(MAX_ID, 1, 5, "feature.set", "feature", "mute_renewal", FAR,
                   {"enabled": True}, {"enabled": False})  # fmt: skip
    reply = recent_changes([entry])
    assert reply.content.endswith('{"enabled": true} → {"enabled": false}')
    assert json.loads(reply.content.split(": ", 1)[1].split(" → ")[0]) == {"enabled": True}
    assert recent_changes([]).content == "Nothing has been changed yet."


async def test_policy_list_pages() -> None:
    ladder = [
        EscalationPolicy(MAX_ID, MAX_NUMBER - i, MAX_NUMBER, Action.BAN, 10**9, 10**9, MAX_ID, FAR)
        for i in range(300)
    ]
    reply = ladder_list(ladder)
    assert_fits(reply)
    assert isinstance(reply.view, PageView)
    assert sum(p.count("\n") for p in reply.view.pages) == 300  # a heading line each
    assert ladder_list([]).content == "No escalation policies."


def test_config_show_fits_with_every_moderator_role() -> None:
    roles = tuple(MAX_ID - i for i in range(250))
    config = GuildConfig(
        modlog_channel_id=MAX_ID,
        appeal_text="A" * MAX_APPEAL,
        mute_role_id=MAX_ID,
        moderator_role_ids=roles,
        warn_expiry_seconds=10**9,
        antinuke_actions=1000,
        antinuke_window_seconds=10**9,
    )
    names = dict.fromkeys(roles[:-1], "R" * 100)
    reply = describe_config(config, names)
    assert_fits(reply)
    fields_by_name = {f.name: f.value for f in reply.embeds[0].fields}
    shown = fields_by_name["Moderator roles"]
    assert shown.startswith(f"<@&{MAX_ID}>, ")
    assert f"more (all in {ROLES_FILE})" in shown
    [listing] = reply.files
    assert all(str(r) in listing.text for r in roles)
    assert f"{roles[-1]}\t(deleted role)" in listing.text
    assert fields_by_name["Appeal text"] == "A" * MAX_APPEAL


def test_config_show_with_one_role_is_just_the_embed() -> None:
    reply = describe_config(GuildConfig(moderator_role_ids=(5,)))
    assert {f.name: f.value for f in reply.embeds[0].fields}["Moderator roles"] == "<@&5>"
    assert reply.files == []


async def test_massban_result_fits_a_thousand_failures() -> None:
    failed = {MAX_ID - i: "Discord rejected the request: " + "m" * 300 for i in range(1000)}
    banned = [make_case(type=Action.BAN, number=n) for n in (1, MAX_NUMBER)]
    reply = massban_result(1002, MassBanOutcome(banned=banned, failed=failed))
    assert_fits(reply)
    assert reply.content.startswith("Banned 2 of 1002 users; 1000 failed.\nCases #1 to #")
    assert f"every failure is in {FAILURES_FILE}." in reply.content
    [attached] = reply.files
    assert attached.text.count("\n") == 1001
    assert all(str(user) in attached.text for user in failed)
    view = MassBanConfirmation(SimpleNamespace(), SimpleNamespace(targets={}))  # type: ignore[arg-type]
    assert_fits(Reply(content="Ban **1000** users? This cannot be undone in one step.", view=view))


def test_massban_result_with_few_failures_lists_them() -> None:
    reply = massban_result(3, MassBanOutcome(banned=[], failed={1: "no", 2: "nope"}))
    assert reply.content == "Banned 0 of 3 users; 2 failed.\n`1`: no\n`2`: nope"
    assert reply.files == []


def test_status_fits_with_many_shards() -> None:
    status = ProcessStatus(
        tuple(range(5000)), 5000, True, CacheStats(10**12, 10**12, 10**12), 10**12
    )
    text = describe_status(status)
    assert_fits(text)
    assert "more of 5000" in text.splitlines()[0]
    few = ProcessStatus((0, 2), 4, False, CacheStats(0, 0, 0), 0)
    assert describe_status(few).splitlines()[0] == "Shards 0, 2 of 4"


# --------------------------------------------------------- mod log, alerts, DMs


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("reason", [REASON, "R" * 5000, None])
def test_modlog_embed_fits(action: Action, reason: str | None) -> None:
    entry = ModLogEntry(
        case=make_case(type=action, reason=reason),
        target_name=DISPLAY_NAME,
        moderator_name=DISPLAY_NAME,
        dm_delivered=False,
        note="escalation to ban (policy #1) failed: " + "n" * 10_000,
    )
    embed = modlog_embed(entry)
    assert_embed_fits(embed)
    assert len(embed) <= limits.EMBED_TOTAL
    fields_by_name = {f.name: f.value for f in embed.fields}
    if reason == REASON:
        assert fields_by_name["Reason"] == REASON, "a reason of 1,000 shows whole"
    elif reason is not None:
        assert fields_by_name["Reason"].endswith(case_marker(MAX_NUMBER))
    assert embed.footer.text is not None
    assert embed.footer.text.endswith("…")


class _CapturingHttp:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_message(self, channel_id: int, *, params: Any) -> dict[str, Any]:
        self.sent.append(params.payload)
        return {"id": "1"}


async def test_alerts_fit() -> None:
    http = _CapturingHttp()
    rest = RestActions(http)  # type: ignore[arg-type]
    assert await rest.post_alert(MAX_ID, "Anti-nuke: " + DISPLAY_NAME * 100)
    [payload] = http.sent
    assert_fits(payload)
    assert payload["embeds"][0]["description"].endswith("…")


@pytest.mark.parametrize("action", [a for a in Action if a.kind.dm_setting])
def test_the_longest_dm_fits(action: Action) -> None:
    """The DM is built by the acting service; with every input at its longest it stays
    well within 2,000 characters (guild name 100, reason 1,000, appeal 500)."""
    arguments: dict[str, Any] = {}
    if "number" in inspect.signature(acting.dm_text).parameters:
        arguments["number"] = MAX_NUMBER
    text = acting.dm_text(action, GUILD_NAME, PLAIN_REASON, FAR, "A" * MAX_APPEAL, **arguments)
    assert_fits(text)
    assert GUILD_NAME in text
    assert PLAIN_REASON in text
    assert len(text) <= 1700, f"{len(text)}: the DM grew; check it still fits"
