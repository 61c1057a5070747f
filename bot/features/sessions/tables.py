"""Tables for group listening sessions (migration 0004_sessions_feedback).

Everything a restart must not lose is here: the open session of a channel and who added
which song. Buttons carry only ids; the rows are the truth.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.core.tables import Base, RowId, SnowflakeId, utcnow

END_COMMAND = "command"  # `!session end`
END_IDLE = "idle"  # nobody touched it for SESSION_IDLE_HOURS


class ListeningSession(Base):
    """One group session in one channel, open until ended or idle."""

    __tablename__ = "listening_sessions"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(SnowflakeId)
    channel_id: Mapped[int] = mapped_column(SnowflakeId)
    # The channel id while the session is open, NULL once ended: a unique column that
    # lets the database itself refuse a second open session in a channel (NULLs never
    # collide, on SQLite and PostgreSQL alike).
    open_channel_id: Mapped[int | None] = mapped_column(SnowflakeId, unique=True)
    name: Mapped[str] = mapped_column(String(100))
    started_by: Mapped[int] = mapped_column(SnowflakeId)  # 0 after that member's !forgetme
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(16))

    # The songs belong to the session: deleting it deletes them (the database's ON DELETE
    # CASCADE does the work, so they need not be loaded first).
    entries: Mapped[list[SessionEntry]] = relationship(
        back_populates="listening_session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=lambda: (SessionEntry.added_at, SessionEntry.id),
    )

    __table_args__ = (Index("ix_listening_sessions_guild_ended", "guild_id", "ended_at"),)

    def __repr__(self) -> str:
        return f"<ListeningSession #{self.id} channel={self.channel_id} {self.name!r}>"


class SessionEntry(Base):
    """One song in a session and who added it (deleted by that member's !forgetme)."""

    __tablename__ = "session_entries"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("listening_sessions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(SnowflakeId, index=True)
    user_name: Mapped[str] = mapped_column(String(100))
    track_id: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    listening_session: Mapped[ListeningSession] = relationship(back_populates="entries")

    __table_args__ = (UniqueConstraint("session_id", "track_id"),)
