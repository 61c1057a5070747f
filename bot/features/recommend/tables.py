"""The `queries` table: every `recommend` request (migration 0001_queries)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.tables import Base, RowId, SnowflakeId, utcnow


class Query(Base):
    """One `recommend` request: who asked what, what it resolved to, what we answered."""

    __tablename__ = "queries"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(SnowflakeId)  # 0 = console / direct message
    channel_id: Mapped[int] = mapped_column(SnowflakeId)
    user_id: Mapped[int] = mapped_column(SnowflakeId)
    # Where it came from: "prefix", "slash" or "console" (handy when reading the data).
    source: Mapped[str] = mapped_column(String(16), default="prefix")
    query_text: Mapped[str] = mapped_column(Text)
    resolved_track_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the answer was for when it was not that one song: "the artist Dua Lipa" (the
    # resolved id is then only the artist's best-known song). Migration 0007.
    understood: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recommended_track_ids: Mapped[list[str]] = mapped_column(default=list)
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # `!history`: a member's newest queries within one server.
        Index("ix_queries_guild_user_created", "guild_id", "user_id", "created_at"),
    )

    def __repr__(self) -> str:
        return f"<Query #{self.id} user={self.user_id} {self.query_text!r}>"
