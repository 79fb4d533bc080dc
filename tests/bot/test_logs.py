"""Log lines: facts as fields (JSON) or key=value (text), and never a secret."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from bot.logs import (
    JsonFormatter,
    OneLineReconnects,
    RedactSecrets,
    TextFormatter,
    secrets_of,
)
from bot.settings import load_settings
from db.engine import describe


def record_of(
    message: str, *args: object, name: str = "lockdown.actions", **extra: object
) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_facts_as_fields() -> None:
    line = JsonFormatter().format(record_of("ban done", guild=1, case=7, outcome="done", ms=3.5))
    entry = json.loads(line)
    assert {k: entry[k] for k in ("guild", "case", "outcome", "ms")} == {
        "guild": 1,
        "case": 7,
        "outcome": "done",
        "ms": 3.5,
    }
    assert (entry["message"], entry["logger"], entry["level"]) == (
        "ban done",
        "lockdown.actions",
        "INFO",
    )


def test_text_lines_carry_the_facts_as_key_value_pairs() -> None:
    formatter = TextFormatter("%(levelname)s %(message)s")
    line = formatter.format(record_of("kick refused", guild=1, case=None, reason="not you"))
    assert line == 'INFO kick refused guild=1 reason="not you"'
    assert formatter.format(record_of("plain %s", "line")) == "INFO plain line"


def test_the_database_and_redis_passwords_are_secrets_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "token-value-1234")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:db%40pass-word@db:5432/lockdown")
    monkeypatch.setenv("REDIS_URL", "redis://:redis-pass-word@cache:6379/0")
    found = secrets_of(load_settings())
    assert found == ["token-value-1234", "db@pass-word", "redis-pass-word"]
    redact = RedactSecrets(found)
    try:
        raise OSError("could not reach postgresql://bot:db%40pass-word@db:5432")
    except OSError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "sqlalchemy", logging.ERROR, __file__, 1, "failed with %s", ("db@pass-word",), exc_info
    )
    record.url = "redis://:redis-pass-word@cache"
    assert redact.filter(record)
    assert record.getMessage() == "failed with [redacted]"
    assert record.url == "redis://:[redacted]@cache"
    for line in (JsonFormatter().format(record), TextFormatter().format(record)):
        assert "pass-word" not in line
        assert "postgresql://bot:[redacted]@db:5432" in line  # the traceback's


def test_a_shard_reconnecting_is_one_warning_not_a_traceback() -> None:
    try:
        raise ConnectionResetError("gateway went away")
    except ConnectionResetError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "discord.shard", logging.ERROR, __file__, 1,
        "Attempting a reconnect for shard ID %s in %.2fs", (0, 1.5), exc_info,
    )  # fmt: skip
    assert OneLineReconnects().filter(record)
    line = TextFormatter("%(levelname)s %(message)s").format(record)
    assert line == (
        "WARNING Attempting a reconnect for shard ID 0 in 1.50s: "
        "ConnectionResetError: gateway went away"
    )


def test_the_banner_names_the_database_without_its_password() -> None:
    url = "postgresql+asyncpg://bot:hunter22@db.internal:5433/lockdown"
    assert describe(url) == "PostgreSQL database lockdown on db.internal:5433 as bot"
    assert describe("sqlite+aiosqlite:///./lockdown.db") == (
        f"SQLite file {Path('lockdown.db').resolve()}"
    )
