"""Initial schema: guilds, users, members, the case log, configuration, audit trail.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 03:39:59.309120
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guilds",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "last_case_number",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guilds")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "audit_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_audit_entries_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_guild_id_id", ["guild_id", "id"], unique=False)

    op.create_table(
        "cases",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("moderator_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("dm_delivered", sa.Boolean(), nullable=True),
        sa.Column("audit_log_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("related_number", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.BigInteger(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "type IN ('ban', 'unban', 'softban', 'kick', 'mute', 'unmute', 'warn', 'pardon', 'note')",
            name=op.f("ck_cases_type"),
        ),
        sa.CheckConstraint("number > 0", name=op.f("ck_cases_number_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_cases_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("guild_id", "number", name=op.f("uq_cases_guild_id_number")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_guild_target_number",
            ["guild_id", "target_id", "number"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cases_pending_expiry",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("active AND expires_at IS NOT NULL"),
            sqlite_where=sa.text("active AND expires_at IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_cases_active_punishment",
            ["guild_id", "target_id", "type"],
            unique=True,
            postgresql_where=sa.text("active AND type IN ('ban', 'mute')"),
            sqlite_where=sa.text("active AND type IN ('ban', 'mute')"),
        )
        batch_op.create_index(
            "uq_cases_audit_log_entry",
            ["guild_id", "audit_log_entry_id"],
            unique=True,
            postgresql_where=sa.text("audit_log_entry_id IS NOT NULL"),
            sqlite_where=sa.text("audit_log_entry_id IS NOT NULL"),
        )

    op.create_table(
        "escalation_policies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("window_seconds", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('ban', 'kick', 'mute')",
            name=op.f("ck_escalation_policies_action"),
        ),
        sa.CheckConstraint("threshold > 0", name=op.f("ck_escalation_policies_threshold_positive")),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_escalation_policies_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
        sa.UniqueConstraint(
            "guild_id",
            "threshold",
            name=op.f("uq_escalation_policies_guild_id_threshold"),
        ),
    )
    op.create_table(
        "feature_flags",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_feature_flags_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("guild_id", "name", name=op.f("pk_feature_flags")),
    )
    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_guild_settings_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("guild_id", "key", name=op.f("pk_guild_settings")),
    )
    op.create_table(
        "members",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_members_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_members")),
    )


def downgrade() -> None:
    op.drop_table("members")
    op.drop_table("guild_settings")
    op.drop_table("feature_flags")
    op.drop_table("escalation_policies")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_cases_audit_log_entry",
            postgresql_where=sa.text("audit_log_entry_id IS NOT NULL"),
            sqlite_where=sa.text("audit_log_entry_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_cases_active_punishment",
            postgresql_where=sa.text("active AND type IN ('ban', 'mute')"),
            sqlite_where=sa.text("active AND type IN ('ban', 'mute')"),
        )
        batch_op.drop_index(
            "ix_cases_pending_expiry",
            postgresql_where=sa.text("active AND expires_at IS NOT NULL"),
            sqlite_where=sa.text("active AND expires_at IS NOT NULL"),
        )
        batch_op.drop_index("ix_cases_guild_target_number")

    op.drop_table("cases")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_guild_id_id")

    op.drop_table("audit_entries")
    op.drop_table("users")
    op.drop_table("guilds")
