"""Tables. One schema for SQLite and PostgreSQL; Alembic's history mirrors it.

Discord ids are natural keys (64-bit snowflakes); tables without one get a
surrogate key that autoincrements on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.domain.lifecycle import Action, CaseState

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: BIGINT on PostgreSQL; INTEGER on SQLite, where only `INTEGER PRIMARY KEY` autoincrements.
SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on both backends.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is
    stored as naive UTC text and the zone is re-attached on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class GuildRow(Base):
    """A guild the bot is or was in.

    `last_case_number` is PostgreSQL's case-number allocator (see
    `db.repositories.cases`); SQLite derives numbers from the case log itself.
    """

    __tablename__ = "guilds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    last_case_number: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # The newest Discord audit-log entry reconciled at start-up.
    audit_cursor: Mapped[int | None] = mapped_column(BigInteger)


class BotStateRow(Base):
    """Process-wide facts that must survive restarts (not tenant data)."""

    __tablename__ = "bot_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class UserRow(Base):
    """A Discord user we have seen; global, not tenant data."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class MemberRow(Base):
    """A user's membership of a guild, kept after they leave."""

    __tablename__ = "members"

    guild_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]


CASE_TYPES = tuple(t.value for t in Action)
CASE_STATES = tuple(s.value for s in CaseState)
#: Written as SQL text, as queries must repeat them for the planners to use the indexes.
IN_FORCE = "state = 'active'"
_ACTIVE_PUNISHMENT = text(f"{IN_FORCE} AND type IN ('ban', 'mute')")
_PENDING_EXPIRY = text(f"{IN_FORCE} AND expires_at IS NOT NULL")
_PENDING_RENEWAL = text(f"{IN_FORCE} AND renew_at IS NOT NULL")
_PENDING_INTENT = text("state = 'pending'")


class CaseRow(Base):
    """The case log: every moderation action, numbered per guild."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("guilds.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(BigInteger)
    moderator_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    # pending, active, closed or failed: `bot.domain.lifecycle.CaseState`.
    state: Mapped[str] = mapped_column(String(16))
    dm_delivered: Mapped[bool | None] = mapped_column(Boolean)
    audit_log_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    related_number: Mapped[int | None] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(BigInteger)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    # When a mute longer than Discord's 28-day timeout needs its timeout renewed.
    renew_at: Mapped[datetime | None]
    # The DM that told the member, so it can be deleted if the action then fails.
    dm_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    dm_message_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("guild_id", "number"),
        CheckConstraint(f"type IN {CASE_TYPES!r}", name="type"),
        CheckConstraint(f"state IN {CASE_STATES!r}", name="state"),
        CheckConstraint("number > 0", name="number_positive"),
        # A member's history in a guild, newest first (numbers grow with time).
        Index("ix_cases_guild_target_number", "guild_id", "target_id", "number"),
        # At most one active ban and one active mute per target per guild.
        Index(
            "uq_cases_active_punishment",
            "guild_id",
            "target_id",
            "type",
            unique=True,
            postgresql_where=_ACTIVE_PUNISHMENT,
            sqlite_where=_ACTIVE_PUNISHMENT,
        ),
        # The scheduler's next expirations.
        Index(
            "ix_cases_pending_expiry",
            "expires_at",
            postgresql_where=_PENDING_EXPIRY,
            sqlite_where=_PENDING_EXPIRY,
        ),
        # Mutes whose Discord timeout must be renewed before it lapses.
        Index(
            "ix_cases_pending_renewal",
            "renew_at",
            postgresql_where=_PENDING_RENEWAL,
            sqlite_where=_PENDING_RENEWAL,
        ),
        # Intents a crash or an outage left pending, for the settling sweep.
        Index(
            "ix_cases_pending_intent",
            "created_at",
            postgresql_where=_PENDING_INTENT,
            sqlite_where=_PENDING_INTENT,
        ),
        # Actions taken in Discord's own UI are recorded once per audit-log entry.
        Index(
            "uq_cases_audit_log_entry",
            "guild_id",
            "audit_log_entry_id",
            unique=True,
            postgresql_where=text("audit_log_entry_id IS NOT NULL"),
            sqlite_where=text("audit_log_entry_id IS NOT NULL"),
        ),
    )


class MemberLockRow(Base):
    """A lease on one member of one guild: actions on them run one at a time.

    Taken and released in short transactions (never a connection held across
    Discord's retries); a lease whose holder died expires by itself.
    """

    __tablename__ = "member_locks"

    guild_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True
    )
    target_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class SettingRow(Base):
    """One configured value; absent keys fall back to the registered default."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class EscalationPolicyRow(Base):
    """One rung of a guild's escalation ladder."""

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("guilds.id", ondelete="CASCADE"))
    threshold: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    window_seconds: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("guild_id", "threshold"),
        CheckConstraint("threshold > 0", name="threshold_positive"),
        CheckConstraint("action IN ('ban', 'kick', 'mute')", name="action"),
    )


class FeatureFlagRow(Base):
    """A guild's explicit choice for an optional feature."""

    __tablename__ = "feature_flags"

    guild_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_by: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class ChangeRow(Base):
    """Lockdown's own change log: who changed which setting or case, from what to what."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("guilds.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_changes_guild_id_id", "guild_id", "id"),)


def table_of(model: type[Base]) -> Table:
    """A model's `Table`, typed as one (the ORM declares it as any `FromClause`)."""
    return cast(Table, model.__table__)
