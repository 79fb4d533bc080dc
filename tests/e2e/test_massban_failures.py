"""A mass ban says what happened to each id Discord rejected, and records nothing for
them; with Discord's rate limits enforced, it sends nothing early into a 429."""

from __future__ import annotations

from bot.domain.lifecycle import Action
from db.engine import Database
from tests.e2e.harness import BotProcess
from tests.emulator import DiscordEmulator, Message, StandardGuild

UNKNOWN = 999_999_999_999_999_999  # an id no Discord user has


async def massban(emulator: DiscordEmulator, server: StandardGuild, ids: list[int]) -> Message:
    handle = await emulator.send_slash_command(
        server.guild, server.general, server.moderator, "massban",
        {"users": " ".join(map(str, ids)), "reason": "raid"},
    )  # fmt: skip
    prompt = await handle.wait_final(timeout=10)
    await emulator.click_button(prompt, prompt.custom_ids()[0], server.moderator)
    return await emulator.wait_until(
        lambda: (m := emulator.world.messages[prompt.id]).content.startswith("Banned") and m,
        timeout=20,
        what="the mass ban result",
    )


async def test_ids_discord_rejects_are_named_and_not_recorded(
    own_emulator: DiscordEmulator, own_database_url: str, own_database: Database
) -> None:
    emulator = own_emulator
    emulator.rate_limits.enable()
    server = emulator.world.build_standard_guild()
    stranger = emulator.world.add_user("raider")
    bot = await BotProcess(
        emulator, own_database_url, DEV_GUILD_IDS=str(server.guild.id), COMMAND_LIMIT="1000"
    ).start()

    mixed = await massban(emulator, server, [UNKNOWN, stranger.id])
    assert mixed.content.startswith("Banned 1 of 2 users; 1 failed."), mixed.content
    assert f"`{UNKNOWN}`: Discord knows no user with this id" in mixed.content
    assert "missing a permission" not in mixed.content

    admin_run = await emulator.send_slash_command(
        server.guild, server.general, server.admin, "massban", {"users": str(UNKNOWN)}
    )
    prompt = await admin_run.wait_final(timeout=10)
    await emulator.click_button(prompt, prompt.custom_ids()[0], server.admin)
    alone = await emulator.wait_until(
        lambda: (m := emulator.world.messages[prompt.id]).content.startswith("Banned") and m,
        timeout=20,
        what="the second mass ban result",
    )
    assert alone.content.startswith("Banned 0 of 1 users; 1 failed."), alone.content
    assert f"`{UNKNOWN}`: Discord knows no user with this id" in alone.content

    async with own_database.autocommit() as uow:
        unknown_cases = await uow.cases.history(server.guild.id, UNKNOWN, include_failed=True)
        [ban] = await uow.cases.history(server.guild.id, stranger.id)
    assert unknown_cases == []
    assert ban.type is Action.BAN
    assert emulator.rate_limits.hits == []  # nothing sent early into a 429
    assert await bot.stop() == 0
    assert "Traceback" not in bot.output
