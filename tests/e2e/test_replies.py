"""Replies to the longest inputs, through the emulator: Discord refuses a message over
its limits (400, 50035 Invalid Form Body), and the moderator then sees only an error.

Reported: `/case show` of a case with a long reason and a long pardon reason, and
`/warnings` with twenty warnings, went over 2,000 characters, so the case could never
be viewed. The emulator refuses such messages as Discord does; each test also checks
the limits itself and that Discord refused nothing along the way.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.models import Case
from bot.domain.reasons import MAX_REASON
from db.engine import Database
from tests.cogs.fits import assert_fits
from tests.e2e.conftest import Members
from tests.e2e.harness import preset_guild
from tests.emulator import DiscordEmulator, Message, StandardGuild, User

pytestmark = pytest.mark.usefixtures("bot", "clean_faults")

MAX_CONTENT = 2000


def long_text(label: str) -> str:
    """1,000 characters a moderator could type, with a distinct start and end."""
    body = f"[{label} start] " + "spam in #general, links to scam sites 🚫 " * 30
    end = f" [{label} end]"
    return body[: MAX_REASON - len(end)] + end


@pytest.fixture(scope="module", autouse=True)
async def modlog_configured(
    bot_database_url: str, bot_database: Database, server: StandardGuild
) -> None:
    await preset_guild(bot_database_url, bot_database, server, modlog_channel_id=server.mod_log.id)


def payload(message: Message) -> dict[str, Any]:
    return {"content": message.content, "embeds": message.embeds, "components": message.components}


async def run(
    emulator: DiscordEmulator,
    server: StandardGuild,
    name: str,
    options: dict[str, Any],
    *,
    subcommand: str | None = None,
) -> Message:
    """The moderator's command; its settled reply, checked against Discord's limits."""
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, name, options, subcommand=subcommand
    )
    reply = await handle.wait_final(timeout=15)
    assert handle.record.refusals == [], f"Discord refused part of /{name}"
    assert len(reply.content) <= MAX_CONTENT
    assert_fits(payload(reply))
    assert not reply.content.startswith("Something went wrong"), reply.content
    assert reply.ephemeral
    return reply


async def cases_of(database: Database, server: StandardGuild, user: User) -> list[Case]:
    async with database.autocommit() as uow:
        return await uow.cases.history(server.guild.id, user.id)


async def test_case_show_with_a_long_reason_and_a_long_pardon_reason(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    reason, why_pardoned = long_text("reason"), long_text("pardon")
    assert len(reason) == len(why_pardoned) == MAX_REASON

    warned = await run(emulator, server, "warn", {"member": target, "reason": reason})
    assert warned.content.startswith(f"Warned {target.username}")
    [case] = await cases_of(bot_database, server, target)
    assert case.reason == reason
    [dm] = emulator.dms_to(target)
    assert reason in dm.content
    assert len(dm.content) <= MAX_CONTENT

    pardoned = await run(emulator, server, "pardon", {"case": case.number, "reason": why_pardoned})
    assert pardoned.content.startswith(f"Pardoned case #{case.number} (warn)")

    shown = await run(emulator, server, "case", {"number": case.number}, subcommand="show")
    assert shown.content.startswith(f"**#{case.number}** warn")
    assert "Reason: [reason start]" in shown.content
    assert "… (cut; full text below)" in shown.content
    [embed] = shown.embeds
    in_full = {f["name"]: f["value"] for f in embed["fields"]}
    assert in_full == {"Reason": reason, "Why it ended": why_pardoned}

    def modlog_reasons() -> list[str] | None:
        found = [
            {f["name"]: f["value"] for f in m.embeds[0]["fields"]}["Reason"]
            for m in emulator.messages_in(server.mod_log)
            if m.embeds and str(target.id) in m.embeds[0]["fields"][0]["value"]
        ]
        return found if len(found) == 2 else None

    logged = await emulator.wait_until(modlog_reasons, timeout=10, what="both mod-log posts")
    assert logged == [reason, why_pardoned], "the mod log shows each reason in full"
    for post in emulator.messages_in(server.mod_log):
        assert_fits(payload(post))


async def test_twenty_warnings_page_with_buttons(
    emulator: DiscordEmulator, server: StandardGuild, members: Members
) -> None:
    target = members.take()
    for index in range(20):
        reason = long_text(f"warning {index}")
        await run(emulator, server, "warn", {"member": target, "reason": reason})

    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "warnings", {"member": target}
    )
    first = await handle.wait_final(timeout=15)
    assert handle.record.refusals == []
    assert len(first.content) <= MAX_CONTENT
    assert_fits(payload(first))
    assert first.content.startswith(
        f"{target.username} has 20 active warning(s): 1 to 10, newest first"
    )
    assert first.content.count("\n") == 10
    assert "[warning 19 start]" in first.content

    newer, where, older = first.custom_ids()
    click = await emulator.click_button(first, older, server.moderator)
    await click.wait_response(timeout=10)
    assert click.record.refusals == []
    page = emulator.world.messages[first.id]
    assert len(page.content) <= MAX_CONTENT
    assert page.content.startswith(f"{target.username} has 20 active warning(s): 11 to 20")
    assert "[warning 0 start]" in page.content

    back = await emulator.click_button(first, newer, server.moderator)
    await back.wait_response(timeout=10)
    assert "1 to 10" in emulator.world.messages[first.id].content
    assert where != older

    history = await run(emulator, server, "history", {"user": target})
    assert "1 to 10 of 20, newest first" in history.content


async def test_recent_changes_of_long_reason_edits_page_whole_entries(
    emulator: DiscordEmulator, server: StandardGuild, members: Members, bot_database: Database
) -> None:
    target = members.take()
    await run(emulator, server, "note", {"user": target, "text": long_text("note")})
    [case] = await cases_of(bot_database, server, target)
    for index in range(12):
        await run(
            emulator,
            server,
            "case",
            {"number": case.number, "new_reason": long_text(f"edit {index}")},
            subcommand="reason",
        )

    handle = await emulator.send_slash_command(
        server.guild, server.general, server.admin, "changes", {"limit": 25},
        subcommand="recent",
    )  # fmt: skip
    recent = await handle.wait_final(timeout=15)
    assert handle.record.refusals == []
    assert_fits(payload(recent))
    assert recent.content.startswith("Changes 1 to ")
    entries = recent.content.splitlines()[1:]
    assert all("**case.reason**" in e and e.count("→") == 1 for e in entries[:3])
    assert recent.custom_ids(), "more pages behind a button"
