"""Exports, purges and the retention period, on both backends."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.lifecycle import Action
from bot.services.config import ConfigService
from bot.services.container import Services
from bot.services.data import DataService
from bot.services.policies import PolicyService
from db.engine import Database
from tests.bot.services.edge import MANAGER, NOW, FixedClock, request
from tests.conftest import new_snowflake


async def test_export_holds_every_kind_of_record(
    services: Services,
    config: ConfigService,
    database: Database,
    clock: FixedClock,
    guild_id: int,
) -> None:
    await config.set(guild_id, "appeal_text", "write to us", actor=MANAGER)
    await config.set_feature(guild_id, "escalation", False, actor=MANAGER)
    await PolicyService(database, clock).add(
        guild_id, threshold=3, action=Action.KICK, duration=None, window=None, actor=MANAGER
    )
    await services.moderation.act(request(guild_id, Action.WARN, reason="first"))
    data = DataService(database, config, clock)

    records = await data.export(guild_id)

    kinds = [r["kind"] for r in records]
    assert kinds == ["guild", "setting", "feature", "policy", "case", "change", "change", "change"]
    case = records[4]
    assert (case["guild_id"], case["number"], case["type"], case["reason"]) == (
        guild_id, 1, "warn", "first",
    )  # fmt: skip
    assert case["created_at"] == NOW.isoformat()
    assert records[1]["value"] == "write to us"
    assert all(r.get("guild_id", r.get("id")) == guild_id for r in records)


async def test_data_is_kept_for_the_retention_period_then_purged(
    services: Services,
    config: ConfigService,
    database: Database,
    clock: FixedClock,
    guild_id: int,
) -> None:
    stays = new_snowflake()
    async with database.transaction() as uow:
        await uow.guilds.record_join(stays, "stays", now=NOW)
    await config.set(guild_id, "retention_days", 10, actor=MANAGER)
    await services.moderation.act(request(guild_id, Action.WARN))
    data = DataService(database, config, clock)
    await data.left(guild_id)

    clock.at = NOW + timedelta(days=9)
    assert guild_id not in await data.purge_departed()
    assert len(await data.export(guild_id)) > 1

    clock.at = NOW + timedelta(days=10)
    assert guild_id in await data.purge_departed()
    async with database.autocommit() as uow:
        assert await uow.guilds.get(guild_id) is None
        assert await uow.cases.all(guild_id) == []
        assert await uow.guilds.get(stays) is not None


async def test_rejoining_in_time_keeps_everything(
    services: Services,
    config: ConfigService,
    database: Database,
    clock: FixedClock,
    guild_id: int,
) -> None:
    await services.moderation.act(request(guild_id, Action.WARN))
    data = DataService(database, config, clock)
    await data.left(guild_id)
    async with database.transaction() as uow:
        await uow.guilds.record_join(guild_id, "back again", now=NOW + timedelta(days=5))
    clock.at = NOW + timedelta(days=400)
    assert guild_id not in await data.purge_departed()
    async with database.autocommit() as uow:
        assert [c.type for c in await uow.cases.all(guild_id)] == [Action.WARN]


async def test_purging_a_guild_the_bot_is_still_in_starts_it_afresh(
    services: Services,
    config: ConfigService,
    database: Database,
    clock: FixedClock,
    guild_id: int,
) -> None:
    await config.set(guild_id, "retention_days", 3, actor=MANAGER)
    await services.moderation.act(request(guild_id, Action.WARN))
    data = DataService(database, config, clock)

    assert await data.purge(guild_id)

    assert (await config.get(guild_id)).retention_days == 30  # the cache was refreshed
    [guild] = await data.export(guild_id)
    assert guild["kind"] == "guild"  # only the guild itself is left...
    outcome = await services.moderation.act(request(guild_id, Action.WARN))
    assert outcome.case.number == 1  # ...so the next case has somewhere to belong
    assert not await data.purge(new_snowflake())  # an unknown guild: nothing to purge
