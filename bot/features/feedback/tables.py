"""The `feedback` table: 👍/👎 on recommended songs (migration 0004_sessions_feedback)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from bot.core.tables import Base, RowId, SnowflakeId, utcnow
from bot.features.recommend.tables import Query
from bot.features.sessions.tables import ListeningSession, SessionEntry

LIKE = 1
DISLIKE = -1


class Feedback(Base):
    """One member's 👍 (+1) or 👎 (-1) on one recommended track of one message.

    `query_id` or `session_id` says which answer it was; `seed_track_id` is the song the
    pick was recommended for (the query's song, or the session song it is closest to):
    a 👍 becomes the training pair (seed_track_id, track_id).

    A vote belongs to the member who cast it, not to the answer: when the query or the
    session goes, the vote stays and only loses its link (ON DELETE SET NULL).
    """

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(SnowflakeId)
    channel_id: Mapped[int] = mapped_column(SnowflakeId)
    message_id: Mapped[int] = mapped_column(SnowflakeId)
    user_id: Mapped[int] = mapped_column(SnowflakeId, index=True)
    query_id: Mapped[int | None] = mapped_column(
        ForeignKey("queries.id", ondelete="SET NULL"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("listening_sessions.id", ondelete="SET NULL")
    )
    seed_track_id: Mapped[str | None] = mapped_column(String(64))
    track_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    query: Mapped[Query | None] = relationship()
    listening_session: Mapped[ListeningSession | None] = relationship()
    # A session vote's seed is one of the session's songs: the entry of whoever added it.
    seed_entry: Mapped[SessionEntry | None] = relationship(
        primaryjoin=lambda: and_(
            foreign(Feedback.session_id) == SessionEntry.session_id,
            foreign(Feedback.seed_track_id) == SessionEntry.track_id,
        ),
        viewonly=True,
    )

    __table_args__ = (
        # One vote per member per track per message; voting again changes it.
        UniqueConstraint("message_id", "user_id", "track_id", name="uq_feedback_vote"),
        # One vote per member per pair (the song asked about, the pick) in a server: the
        # same pick under a repeat of the same question changes that vote (0005).
        UniqueConstraint(
            "guild_id", "user_id", "seed_track_id", "track_id", name="uq_feedback_pair"
        ),
        Index("ix_feedback_guild_value", "guild_id", "value"),
    )
