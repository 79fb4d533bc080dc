"""Process settings, read once from the environment and `.env`.

Everything per-guild lives in the database; only what a maintainer sets for the
whole process belongs here.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./lockdown.db"
DEFAULT_API_BASE_URL = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/"

_INT_LIST_ITEM = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _parse_int_list(value: object) -> object:
    """Accept `1,2,5-7` (commas and inclusive ranges) as well as real lists."""
    if not isinstance(value, str):
        return value
    numbers: list[int] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = _INT_LIST_ITEM.match(item)
        if match is None:
            raise ValueError(f"{item!r} is not a number or a range like 0-3")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise ValueError(f"range {item!r} runs backwards")
        twice = sorted(set(numbers).intersection(range(low, high + 1)))
        if twice:
            raise ValueError(f"{twice[0]} is listed twice")
        numbers.extend(range(low, high + 1))
    return numbers


def normalise_database_url(url: str) -> str:
    """Map the URL forms hosting providers hand out onto our async drivers."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    if not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        raise ValueError("must be a postgresql:// or sqlite:// URL")
    return url


# NoDecode: pydantic-settings would read `1` as JSON (a number, not a list) before the
# parser sees it. It must annotate the whole type: inside `| None` it goes unseen.
IntList = Annotated[list[int], NoDecode]
OptionalIntList = Annotated[list[int] | None, NoDecode]


class DatabaseSettings(BaseSettings):
    """DATABASE_URL alone: what migrations need, so that an unrelated bad setting
    cannot stop them (`lockdown db`, bare `alembic`)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `KEY=` in .env means "use the default"
        extra="ignore",
        case_sensitive=False,
    )

    database_url: str = DEFAULT_DATABASE_URL

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        return normalise_database_url(value.strip())


class Settings(DatabaseSettings):
    """Every knob a maintainer can turn; see `.env.example` for the documented list."""

    discord_token: SecretStr | None = None
    redis_url: str | None = None
    discord_api_base_url: str = DEFAULT_API_BASE_URL
    discord_gateway_url: str = DEFAULT_GATEWAY_URL
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: OptionalIntList = None
    dev_guild_ids: IntList = Field(default_factory=list)
    auto_migrate: bool = True
    # Per user, across every guild and process: at most this many commands...
    command_limit: int = Field(default=10, ge=1)
    # ...in this many seconds.
    command_window_seconds: float = Field(default=10.0, gt=0)
    # Discord's identify window per max_concurrency bucket; change only for a test server.
    identify_interval_seconds: float = Field(default=5.0, ge=0)
    # How long to wait after the last guild arrives before the bot counts as ready
    # (discord.py's guild_ready_timeout); change only for a test server.
    guild_ready_timeout_seconds: float = Field(default=2.0, gt=0)
    # A case still pending this long after its action began (a crash, a database outage)
    # is settled from what Discord shows. Longer than any action takes.
    pending_settle_seconds: float = Field(default=120.0, ge=1)
    # Serve /healthz, /readyz and /metrics on this port (0: any free port, logged); off unset.
    http_port: int | None = Field(default=None, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @field_validator("discord_api_base_url", "discord_gateway_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/") if value.startswith("http") else value

    @field_validator("shard_ids", "dev_guild_ids", mode="before")
    @classmethod
    def _parse_lists(cls, value: object) -> object:
        return _parse_int_list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def token(self) -> str:
        """The bot token, or a `SettingsError` that says how to provide it."""
        if self.discord_token is None or not self.discord_token.get_secret_value().strip():
            raise SettingsError(
                "DISCORD_TOKEN is not set: put your bot token in the environment or in .env"
            )
        return self.discord_token.get_secret_value().strip()

    def check_shards(self) -> None:
        if self.shard_ids is not None and self.shard_count is None:
            raise SettingsError("SHARD_IDS is set but SHARD_COUNT is not: set both")
        if self.shard_ids is not None and self.shard_count is not None:
            outside = [i for i in self.shard_ids if i >= self.shard_count]
            if outside:
                raise SettingsError(
                    f"SHARD_IDS has {outside} but SHARD_COUNT is {self.shard_count}: "
                    "shard ids run from 0 to SHARD_COUNT-1"
                )


S = TypeVar("S", bound=BaseSettings)


def _read(kind: type[S], overrides: dict[str, object]) -> S:
    """Read settings, turning pydantic's report into one line naming the variable."""
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name} is invalid: {message}") from None


def load_settings(**overrides: object) -> Settings:
    settings = _read(Settings, overrides)
    settings.check_shards()
    return settings


def load_database_url() -> str:
    """DATABASE_URL (or its default), whatever the other settings say."""
    return _read(DatabaseSettings, {}).database_url
