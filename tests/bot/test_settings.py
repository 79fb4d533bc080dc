"""Settings: environment in, one clear line out when something is wrong."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.logs import RedactSecrets
from bot.settings import (
    DEFAULT_API_BASE_URL,
    DEFAULT_DATABASE_URL,
    DEFAULT_GATEWAY_URL,
    Settings,
    SettingsError,
    load_database_url,
    load_settings,
)
from db.engine import is_sqlite
from db.migrate import ROOT

ENV_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """No stray variables or .env file leak into these tests."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///./lockdown.db"
    assert is_sqlite(settings.database_url)
    assert settings.redis_url is None
    assert settings.discord_api_base_url == DEFAULT_API_BASE_URL
    assert settings.discord_gateway_url == DEFAULT_GATEWAY_URL
    assert (settings.shard_count, settings.shard_ids, settings.dev_guild_ids) == (None, None, [])
    assert (settings.log_level, settings.log_format, settings.auto_migrate) == (
        "INFO",
        "text",
        True,
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/lockdown", "postgresql+asyncpg://u:p@db:5432/lockdown"),
        ("postgresql://u@db/lockdown", "postgresql+asyncpg://u@db/lockdown"),
        ("postgresql+asyncpg://u@db/x", "postgresql+asyncpg://u@db/x"),
        ("sqlite:///./data/bot.db", "sqlite+aiosqlite:///./data/bot.db"),
    ],
)
def test_database_urls_are_normalised(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings().database_url == expected


def test_lists_accept_commas_and_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARD_COUNT", "8")
    monkeypatch.setenv("SHARD_IDS", "0-2, 5")
    monkeypatch.setenv("DEV_GUILD_IDS", "123456789012345678,876543210987654321")
    settings = load_settings()
    assert settings.shard_ids == [0, 1, 2, 5]
    assert settings.dev_guild_ids == [123456789012345678, 876543210987654321]


SHARDS = "SHARD_IDS"
GUILDS = "DEV_GUILD_IDS"
GUILD_A, GUILD_B = 123456789012345678, 876543210987654321


@pytest.fixture(params=["environment", ".env"])
def set_variables(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[[dict[str, str]], None]:
    """Put variables where a maintainer would: in the environment, or in `.env`."""

    def put(variables: dict[str, str]) -> None:
        if request.param == "environment":
            for name, value in variables.items():
                monkeypatch.setenv(name, value)
        else:
            with open(".env", "w") as env:
                env.writelines(f"{name}={value}\n" for name, value in variables.items())

    return put


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # .env.example and the README: one id (one shard per process), a range, a list.
        (SHARDS, "1", [1]),
        (SHARDS, "0", [0]),
        (SHARDS, "0-3", [0, 1, 2, 3]),
        (SHARDS, "4-7", [4, 5, 6, 7]),
        (SHARDS, "0,2", [0, 2]),
        (SHARDS, "0-2, 5", [0, 1, 2, 5]),
        (SHARDS, "", None),  # empty: every shard
        (GUILDS, str(GUILD_A), [GUILD_A]),
        (GUILDS, f"{GUILD_A},{GUILD_B}", [GUILD_A, GUILD_B]),
        (GUILDS, f"{GUILD_A}, {GUILD_B}", [GUILD_A, GUILD_B]),
        (GUILDS, "", []),  # empty: commands synced globally
    ],
)
def test_every_documented_form_of_a_list_setting(
    set_variables: Callable[[dict[str, str]], None],
    name: str,
    value: str,
    expected: list[int] | None,
) -> None:
    set_variables({"SHARD_COUNT": "8", name: value})
    assert getattr(load_settings(), name.lower()) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (SHARDS, "0,0", "SHARD_IDS is invalid: 0 is listed twice"),
        (SHARDS, "0-3,2", "SHARD_IDS is invalid: 2 is listed twice"),
        (GUILDS, f"{GUILD_A},{GUILD_A}", f"DEV_GUILD_IDS is invalid: {GUILD_A} is listed twice"),
    ],
)
def test_a_list_setting_refuses_duplicates(
    set_variables: Callable[[dict[str, str]], None], name: str, value: str, message: str
) -> None:
    set_variables({"SHARD_COUNT": "8", name: value})
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == message


def test_the_database_url_is_read_alone(set_variables: Callable[[dict[str, str]], None]) -> None:
    """Migrations need DATABASE_URL only; another setting's bad value cannot stop them."""
    url = "postgresql://lockdown@db:5432/lockdown"
    set_variables({"DATABASE_URL": url, "SHARD_IDS": "0,0", "LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError):
        load_settings()
    assert load_database_url() == "postgresql+asyncpg://lockdown@db:5432/lockdown"


def test_a_bad_database_url_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError, match=r"^DATABASE_URL is invalid: must be a postgresql://"):
        load_database_url()


def test_reads_dot_env(tmp_path: object) -> None:
    with open(".env", "w") as env:
        env.write("DISCORD_TOKEN=from-dot-env-token\nLOG_FORMAT=json\nlog_level=debug\n")
    settings = load_settings()
    assert settings.token() == "from-dot-env-token"
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "DATABASE_URL",
            "mysql://x",
            "DATABASE_URL is invalid: must be a postgresql:// or sqlite://",
        ),
        ("REDIS_URL", "http://x", "REDIS_URL is invalid: must be a redis:// URL"),
        ("SHARD_COUNT", "zero", "SHARD_COUNT is invalid"),
        ("SHARD_COUNT", "0", "SHARD_COUNT is invalid"),
        ("SHARD_IDS", "1,x", "SHARD_IDS is invalid: 'x' is not a number or a range"),
        ("DEV_GUILD_IDS", "5-2", "DEV_GUILD_IDS is invalid: range '5-2' runs backwards"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT is invalid"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL is invalid"),
        ("AUTO_MIGRATE", "perhaps", "AUTO_MIGRATE is invalid"),
    ],
)
def test_malformed_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_shard_ids_need_a_count_that_covers_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARD_IDS", "0,1")
    with pytest.raises(SettingsError, match="SHARD_COUNT is not"):
        load_settings()
    monkeypatch.setenv("SHARD_COUNT", "1")
    with pytest.raises(SettingsError, match="SHARD_IDS has \\[1\\]"):
        load_settings()


def test_token_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="DISCORD_TOKEN is not set"):
        load_settings().token()
    monkeypatch.setenv("DISCORD_TOKEN", "MTIzNDU2.secret-token-value")
    settings = load_settings()
    assert settings.token() == "MTIzNDU2.secret-token-value"
    assert "secret-token-value" not in repr(settings)
    assert "secret-token-value" not in str(settings.model_dump())


def test_log_records_never_carry_the_token() -> None:
    record = logging.LogRecord(
        "discord.http", logging.INFO, __file__, 1, "sending %s", ("Bot abcdefgh.ijkl",), None
    )
    assert RedactSecrets(["abcdefgh.ijkl"]).filter(record)
    assert record.getMessage() == "sending Bot [redacted]"


def test_a_copy_of_env_example_is_a_valid_configuration() -> None:
    with open(".env", "w") as env:
        env.write((ROOT / ".env.example").read_text())
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.redis_url, settings.shard_count, settings.dev_guild_ids) == (None, None, [])
    with pytest.raises(SettingsError, match="DISCORD_TOKEN is not set"):
        settings.token()
