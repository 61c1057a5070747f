"""listening_sessions, session_entries, feedback: group sessions and 👍/👎 votes

Revision ID: 0004_sessions_feedback
Revises: 0003_conversations
Create Date: 2026-11-27

Tables: bot/features/sessions/tables.py, bot/features/feedback/tables.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_sessions_feedback"
down_revision: str | None = "0003_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listening_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("open_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("started_by", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_sessions")),
        sa.UniqueConstraint("open_channel_id", name=op.f("uq_listening_sessions_open_channel_id")),
    )
    with op.batch_alter_table("listening_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_listening_sessions_guild_ended", ["guild_id", "ended_at"], unique=False
        )

    op.create_table(
        "feedback",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("query_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("seed_track_id", sa.String(length=64), nullable=True),
        sa.Column("track_id", sa.String(length=64), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_id"],
            ["queries.id"],
            name=op.f("fk_feedback_query_id_queries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["listening_sessions.id"],
            name=op.f("fk_feedback_session_id_listening_sessions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("message_id", "user_id", "track_id", name="uq_feedback_vote"),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_guild_value", ["guild_id", "value"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_query_id"), ["query_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_user_id"), ["user_id"], unique=False)

    op.create_table(
        "session_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("track_id", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["listening_sessions.id"],
            name=op.f("fk_session_entries_session_id_listening_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_entries")),
        sa.UniqueConstraint("session_id", "track_id", name=op.f("uq_session_entries_session_id")),
    )
    with op.batch_alter_table("session_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_entries_session_id"), ["session_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_session_entries_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("session_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_entries_user_id"))
        batch_op.drop_index(batch_op.f("ix_session_entries_session_id"))

    op.drop_table("session_entries")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_user_id"))
        batch_op.drop_index(batch_op.f("ix_feedback_query_id"))
        batch_op.drop_index("ix_feedback_guild_value")

    op.drop_table("feedback")
    with op.batch_alter_table("listening_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_listening_sessions_guild_ended")

    op.drop_table("listening_sessions")
