"""A guild's effective configuration: registered defaults overlaid with what admins set."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class GuildConfig:
    """Every per-guild setting with its default; a field's name is its stored key."""

    modlog_channel_id: int | None = None
    dm_notify: bool = True
    appeal_text: str | None = None

    @classmethod
    def from_stored(cls, values: dict[str, Any]) -> GuildConfig:
        """Overlay stored values on the defaults; keys no longer registered are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


DEFAULT_CONFIG = GuildConfig()
