"""Mute renewal times on cases, and a table for process-wide state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:01:34.607381
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_state")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renew_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_cases_pending_renewal",
            ["renew_at"],
            unique=False,
            postgresql_where=sa.text("active AND renew_at IS NOT NULL"),
            sqlite_where=sa.text("active AND renew_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_cases_pending_renewal",
            postgresql_where=sa.text("active AND renew_at IS NOT NULL"),
            sqlite_where=sa.text("active AND renew_at IS NOT NULL"),
        )
        batch_op.drop_column("renew_at")

    op.drop_table("bot_state")
