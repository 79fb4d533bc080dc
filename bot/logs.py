"""Logging set-up: text for people, JSON lines for log shippers; secrets never printed.

A record's facts travel as `extra=` attributes (`bot.services.actionlog`):
JSON lines carry them as fields, text lines as `key=value` after the message.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy import make_url

from bot.settings import Settings

#: Attributes every record has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
#: Secrets shorter than this are not redacted: they would mangle ordinary words.
MIN_SECRET = 4


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The facts a record was given with `extra=` (those that are set)."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_") and value is not None
    }


class Redactor:
    """Replaces each known secret in a text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if len(s) >= MIN_SECRET}
        found |= {quote(s, safe="") for s in found}  # as it appears inside a URL
        self._secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)


class RedactSecrets(logging.Filter):
    """Replace known secrets in every record, whichever library logged them: in the
    message, the traceback and the facts given with `extra=`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._redact = Redactor(secrets)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._redact:
            return True
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        for key, value in fields_of(record).items():
            if isinstance(value, str):
                setattr(record, key, self._redact(value))
        return True


class OneLineReconnects(logging.Filter):
    """discord.py logs each attempt to reconnect a shard as an error with a traceback;
    a gateway that is away is no bug: one warning line naming the cause says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.exc_info
            and record.name.startswith("discord.")
            and str(record.msg).startswith("Attempting a reconnect")
        ):
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def secrets_of(settings: Settings) -> list[str]:
    """The token and the passwords in DATABASE_URL and REDIS_URL."""
    found = []
    if settings.discord_token is not None:
        found.append(settings.discord_token.get_secret_value().strip())
    found.append(make_url(settings.database_url).password or "")
    if settings.redis_url:
        parts = urlsplit(settings.redis_url)
        found.append(parts.password or "")
        found += parse_qs(parts.query).get("password", [])
    return [secret for secret in found if secret]


def _value(value: object) -> str:
    text = str(value)
    return text if text and " " not in text and '"' not in text else json.dumps(text)


class TextFormatter(logging.Formatter):
    """One line for people: the message, then the record's facts as `key=value`."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = fields_of(record)
        if fields:
            line += " " + " ".join(f"{key}={_value(value)}" for key, value in fields.items())
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the record's facts are fields of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = dict(fields_of(record))
        entry.update(
            time=datetime.fromtimestamp(record.created, UTC).isoformat(),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(OneLineReconnects())
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
