"""Names everywhere: entries written without a moderator at the keyboard still name people."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.hierarchy import Participant
from bot.domain.lifecycle import Action
from bot.services.container import Services
from bot.services.massban import MassBanRequest
from db.engine import Database
from tests.bot.services.conftest import BOT
from tests.bot.services.edge import (
    MANAGER,
    MEMBER,
    MOD,
    MODERATOR,
    MODLOG,
    NOW,
    OWNER,
    PERMS,
    FixedClock,
    RecordingGateway,
    request,
)


async def test_names_seen_in_commands_are_kept_and_used_by_timers_and_pardons(
    services: Services,
    database: Database,
    gateway: RecordingGateway,
    clock: FixedClock,
    guild_id: int,
) -> None:
    await services.config.set(guild_id, "modlog_channel_id", MODLOG, actor=MANAGER)
    await services.moderation.act(request(guild_id, Action.BAN, duration=timedelta(hours=1)))
    await services.names.flush()
    async with database.autocommit() as uow:
        stored = await uow.users.get(MEMBER)
    assert stored is not None
    assert stored.name == "member"

    clock.at = NOW + timedelta(hours=1)
    await services.timers.run_due()
    expired = gateway.modlog[-1]
    assert expired.case.type is Action.UNBAN
    assert (expired.target_name, expired.moderator_name) == ("member", BOT.name)

    warned = await services.moderation.act(request(guild_id, Action.WARN))
    await services.pardons.pardon(
        guild_id, warned.case.number, actor=MODERATOR, actor_name="mod", reason=None
    )
    pardon = gateway.modlog[-1]
    assert pardon.case.type is Action.PARDON
    assert (pardon.target_name, pardon.moderator_name) == ("member", "mod")


async def test_a_name_never_seen_is_shown_as_the_id(
    services: Services, gateway: RecordingGateway, guild_id: int
) -> None:
    await services.config.set(guild_id, "modlog_channel_id", MODLOG, actor=MANAGER)
    stranger = 424_242_424_242_424_242
    bot = Participant(BOT.id, 10, PERMS)
    await services.massban.massban(
        MassBanRequest(
            guild_id=guild_id, guild_name="Test Guild", owner_id=OWNER,
            actor=Participant(MOD, 5, PERMS), actor_name="mod", bot=bot,
            targets={stranger: None}, reason="raid",
        )
    )  # fmt: skip
    entry = gateway.modlog[-1]
    assert (entry.target_name, entry.moderator_name) == (str(stranger), "mod")


async def test_a_changed_name_replaces_the_old_one(
    services: Services, database: Database, guild_id: int
) -> None:
    services.names.remember(MEMBER, "old name")
    services.names.remember(MEMBER, "new name")
    await services.names.flush()
    async with database.autocommit() as uow:
        stored = await uow.users.get(MEMBER)
    assert stored is not None
    assert stored.name == "new name"
    assert await services.names.name(MEMBER) == "new name"
