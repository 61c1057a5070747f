"""queries: every recommend request, what it resolved to and what the bot answered

Revision ID: 0001_queries
Revises:
Create Date: 2026-11-27

Revision ids are fixed, readable strings; the chain continues with 0002_training_runs,
0003_conversations, 0004_sessions_feedback.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_queries"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("query_text", sa.Text(), nullable=False),
        sa.Column("resolved_track_id", sa.String(length=64), nullable=True),
        sa.Column("recommended_track_ids", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queries")),
    )
    op.create_index(
        "ix_queries_guild_user_created",
        "queries",
        ["guild_id", "user_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_queries_guild_user_created", table_name="queries")
    op.drop_table("queries")
