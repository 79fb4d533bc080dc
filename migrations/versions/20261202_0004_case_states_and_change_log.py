"""Cases move through states (pending, active, closed, failed) instead of an
`active` flag; Lockdown's own trail of changes is the `changes` table, so
"audit" means only Discord's audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "('pending', 'active', 'closed', 'failed')"

# The partial indexes' predicates, before and after.
INDEXES = {
    "uq_cases_active_punishment": (
        ["guild_id", "target_id", "type"],
        True,
        "type IN ('ban', 'mute')",
    ),
    "ix_cases_pending_expiry": (["expires_at"], False, "expires_at IS NOT NULL"),
    "ix_cases_pending_renewal": (["renew_at"], False, "renew_at IS NOT NULL"),
}


def _create_indexes(in_force: str) -> None:
    for name, (columns, unique, rest) in INDEXES.items():
        where = sa.text(f"{in_force} AND {rest}")
        op.create_index(
            name, "cases", columns, unique=unique, postgresql_where=where, sqlite_where=where
        )


def _drop_indexes() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="cases")


def upgrade() -> None:
    _drop_indexes()
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=16), nullable=True))
    op.execute("UPDATE cases SET state = CASE WHEN active THEN 'active' ELSE 'closed' END")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("state", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_check_constraint(op.f("ck_cases_state"), f"state IN {STATES}")
        batch_op.drop_column("active")
    _create_indexes("state = 'active'")

    op.drop_index("ix_audit_entries_guild_id_id", table_name="audit_entries")
    op.rename_table("audit_entries", "changes")
    op.create_index("ix_changes_guild_id_id", "changes", ["guild_id", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for old, new in (
            ("pk_audit_entries", "pk_changes"),
            ("fk_audit_entries_guild_id_guilds", "fk_changes_guild_id_guilds"),
        ):
            op.execute(f"ALTER TABLE changes RENAME CONSTRAINT {old} TO {new}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for old, new in (
            ("pk_audit_entries", "pk_changes"),
            ("fk_audit_entries_guild_id_guilds", "fk_changes_guild_id_guilds"),
        ):
            op.execute(f"ALTER TABLE changes RENAME CONSTRAINT {new} TO {old}")
    op.drop_index("ix_changes_guild_id_id", table_name="changes")
    op.rename_table("changes", "audit_entries")
    op.create_index("ix_audit_entries_guild_id_id", "audit_entries", ["guild_id", "id"])

    _drop_indexes()
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=True))
    # Pending cases were not in force; failed ones never were.
    op.execute("UPDATE cases SET active = (state = 'active')")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("active", existing_type=sa.Boolean(), nullable=False)
        batch_op.drop_constraint(op.f("ck_cases_state"), type_="check")
        batch_op.drop_column("state")
    _create_indexes("active")
