"""A case remembers the DM that told the member (deleted if the action then fails),
and actions on one member take a lease so they run one at a time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dm_channel_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("dm_message_id", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_cases_pending_intent",
        "cases",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
        sqlite_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "member_locks",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_member_locks_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("guild_id", "target_id", name=op.f("pk_member_locks")),
    )


def downgrade() -> None:
    op.drop_table("member_locks")
    op.drop_index("ix_cases_pending_intent", table_name="cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("dm_message_id")
        batch_op.drop_column("dm_channel_id")
