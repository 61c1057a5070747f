"""feedback: one vote per member per (song asked about, pick) pair in a server

Revision ID: 0005_one_vote_per_pair
Revises: 0004_sessions_feedback
Create Date: 2026-11-27

A 👍 teaches the model the pair (seed_track_id, track_id). Asking the same song again
showed the same picks under a new message, and each message took a new vote, so one
member could count a pair many times. Earlier duplicates are dropped (the newest vote
stays), then a unique key keeps it so. A vote whose seed was forgotten (NULL) is not a
pair and is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_one_vote_per_pair"
down_revision: str | None = "0004_sessions_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        DELETE FROM feedback
        WHERE seed_track_id IS NOT NULL
          AND id < (
            SELECT MAX(newer.id) FROM feedback AS newer
            WHERE newer.guild_id = feedback.guild_id
              AND newer.user_id = feedback.user_id
              AND newer.seed_track_id = feedback.seed_track_id
              AND newer.track_id = feedback.track_id
          )
        """
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_feedback_pair", ["guild_id", "user_id", "seed_track_id", "track_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_constraint("uq_feedback_pair", type_="unique")
