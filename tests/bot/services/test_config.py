"""Configuration writes on both backends: defaults, resets, audit entries, the cache."""

from __future__ import annotations

import pytest

from bot.domain.config import DEFAULT_CONFIG, SettingOutOfRange, UnknownSetting
from bot.services.config import ConfigService
from db.engine import Database
from tests.bot.services.edge import MANAGER


async def test_reset_everything_restores_defaults_and_audits_each_key(
    config: ConfigService, database: Database, guild_id: int
) -> None:
    await config.set(guild_id, "appeal_text", "mail us", actor=MANAGER)
    await config.set(guild_id, "retention_days", 7, actor=MANAGER)
    assert (await config.get(guild_id)).retention_days == 7

    assert await config.reset(guild_id, actor=MANAGER) == DEFAULT_CONFIG
    async with database.autocommit() as uow:
        resets = [
            e for e in await uow.changes.recent(guild_id, limit=10) if e.action == "config.reset"
        ]
    assert sorted((e.entity_id, e.before["value"]) for e in resets if e.before) == [
        ("appeal_text", "mail us"),
        ("retention_days", 7),
    ]


async def test_unknown_keys_are_refused(config: ConfigService, guild_id: int) -> None:
    with pytest.raises(UnknownSetting, match="`colour` is not a setting"):
        await config.set(guild_id, "colour", "red", actor=MANAGER)
    with pytest.raises(UnknownSetting, match="`turbo` is not a feature"):
        await config.set_feature(guild_id, "turbo", True, actor=MANAGER)


async def test_reads_come_from_the_cache_until_a_write(
    config: ConfigService, guild_id: int
) -> None:
    first = await config.get(guild_id)
    assert await config.get(guild_id) is first  # served from memory
    await config.set(guild_id, "dm_on_warn", False, actor=MANAGER)
    assert (await config.get(guild_id)).dm_on("warn") is False


@pytest.mark.parametrize("days", [0, -3, 366, "30", True])
async def test_retention_outside_its_range_is_refused_and_nothing_is_kept(
    config: ConfigService, database: Database, guild_id: int, days: object
) -> None:
    await config.set(guild_id, "retention_days", 90, actor=MANAGER)
    async with database.autocommit() as uow:
        before = await uow.changes.recent(guild_id, limit=10)

    with pytest.raises(SettingOutOfRange, match=r"`retention_days` must be 1 to 365 days"):
        await config.set(guild_id, "retention_days", days, actor=MANAGER)

    assert (await config.get(guild_id)).retention_days == 90
    async with database.autocommit() as uow:
        assert await uow.changes.recent(guild_id, limit=10) == before


@pytest.mark.parametrize("days", [1, 365])
async def test_retention_takes_either_end_of_its_range(
    config: ConfigService, guild_id: int, days: int
) -> None:
    assert (
        await config.set(guild_id, "retention_days", days, actor=MANAGER)
    ).retention_days == days
