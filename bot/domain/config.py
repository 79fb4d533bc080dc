"""A guild's effective configuration: registered defaults overlaid with what admins set.

Every setting and feature flag is registered here with its default; the database
stores only what an admin changed, so `/config reset` is a delete and a new
setting needs no migration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from bot.domain.errors import LockdownError
from bot.domain.lifecycle import KINDS

#: The `/config dm-notify` switches: one per kind of action members are told about.
DM_ACTIONS = tuple(dict.fromkeys(k.dm_setting for k in KINDS.values() if k.dm_setting))

#: Optional behaviour guilds may switch off with `/feature disable`.
FEATURES: dict[str, str] = {
    "dm_notifications": "DM members about actions taken on them",
    "escalation": "apply the escalation ladder when warnings add up",
    "ui_capture": "record actions taken in Discord's own client as cases",
    "mute_renewal": "renew timeouts of mutes longer than 28 days",
}


class UnknownSetting(LockdownError):
    pass


class SettingOutOfRange(LockdownError):
    """A value outside the range its setting allows; the message gives the range."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """The whole numbers a setting accepts, and what they count."""

    low: int
    high: int
    unit: str


#: Settings whose value must lie in a range, whichever door sets them.
BOUNDS: dict[str, Bounds] = {
    # Long enough to come back from a mistaken kick; short enough to be forgotten.
    "retention_days": Bounds(1, 365, "days"),
}


@dataclass(frozen=True, slots=True)
class GuildConfig:
    """Every per-guild setting with its default; a field's name is its stored key."""

    modlog_channel_id: int | None = None
    dm_on_ban: bool = True
    dm_on_kick: bool = True
    dm_on_mute: bool = True
    dm_on_warn: bool = True
    appeal_text: str | None = None
    mute_role_id: int | None = None
    moderator_role_ids: tuple[int, ...] = ()
    warn_expiry_seconds: int | None = None
    retention_days: int = 30
    antinuke_actions: int = 10  # bans and kicks one moderator may make...
    antinuke_window_seconds: int = 600  # ...within this many seconds
    disabled_features: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_stored(
        cls, values: dict[str, Any], flags: dict[str, bool] | None = None
    ) -> GuildConfig:
        """Overlay stored values on the defaults; keys no longer registered are ignored."""
        known = {f.name for f in fields(cls)} - {"disabled_features"}
        chosen = {k: v for k, v in values.items() if k in known}
        if "moderator_role_ids" in chosen:
            chosen["moderator_role_ids"] = tuple(chosen["moderator_role_ids"])
        disabled = frozenset(n for n, on in (flags or {}).items() if not on and n in FEATURES)
        return cls(**chosen, disabled_features=disabled)

    def to_json(self) -> str:
        """The shared cache's form: stored values and switched-off features."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["moderator_role_ids"] = list(self.moderator_role_ids)
        values["disabled_features"] = sorted(self.disabled_features)
        return json.dumps(values, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> GuildConfig:
        values = json.loads(raw)
        disabled = values.pop("disabled_features", [])
        return cls.from_stored(values, dict.fromkeys(disabled, False))

    def enabled(self, feature: str) -> bool:
        return feature not in self.disabled_features

    def dm_on(self, action: str) -> bool:
        """Whether members hear about `action` (ban, kick, mute, warn) by DM."""
        return self.enabled("dm_notifications") and bool(getattr(self, f"dm_on_{action}", False))


SETTING_KEYS = tuple(f.name for f in fields(GuildConfig) if f.name != "disabled_features")


def check_key(key: str) -> str:
    if key not in SETTING_KEYS:
        raise UnknownSetting(f"`{key}` is not a setting; settings: {', '.join(SETTING_KEYS)}.")
    return key


def check_value(key: str, value: Any) -> None:
    """Refuse a value outside its setting's bounds (settings without bounds take any)."""
    bounds = BOUNDS.get(key)
    if bounds is None:
        return
    whole = isinstance(value, int) and not isinstance(value, bool)
    if not whole or not bounds.low <= value <= bounds.high:
        raise SettingOutOfRange(
            f"`{key}` must be {bounds.low} to {bounds.high} {bounds.unit}, not {value}."
        )


def check_feature(name: str) -> str:
    if name not in FEATURES:
        raise UnknownSetting(f"`{name}` is not a feature; features: {', '.join(FEATURES)}.")
    return name


DEFAULT_CONFIG = GuildConfig()
