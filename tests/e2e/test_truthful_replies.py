"""The moderator is told the truth: an action that succeeded is never reported as a
failure, even when Discord refuses the confirmation message itself."""

from __future__ import annotations

import pytest

from bot.domain.lifecycle import Action, CaseState
from db.engine import Database
from tests.e2e.conftest import Members
from tests.emulator import DiscordEmulator, StandardGuild

pytestmark = pytest.mark.usefixtures("bot", "clean_faults")


async def test_a_refused_confirmation_is_retried_short_never_reported_as_a_failure(
    emulator: DiscordEmulator, server: StandardGuild, bot_database: Database, members: Members
) -> None:
    target = members.take()
    emulator.fail_next("POST", r"/webhooks/\d+/[^/]+", 400, times=1)  # the first follow-up
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "warn",
        {"member": target, "reason": "spam"},
    )  # fmt: skip
    reply = await handle.wait_final(timeout=15)
    async with bot_database.autocommit() as uow:
        [case] = await uow.cases.history(server.guild.id, target.id)
    assert (case.type, case.state) == (Action.WARN, CaseState.ACTIVE)
    assert "Something went wrong" not in reply.content
    assert reply.content == f"Warned {target.username} · case #{case.number}."
