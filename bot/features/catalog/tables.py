"""The `additions` table: songs the catalog lacked, looked up when a member asked for
them, waiting to become ordinary catalog songs at the next retrain (migration
0006_additions).

An addition holds what the source said of the song and how often it was asked for, never
who asked: `!forgetme` and exports have nothing of a member to find here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.tables import Base, RowId, utcnow


class Addition(Base):
    """One looked-up song. `track_id` is its id in this bot: its Spotify id, or
    `musicbrainz:<recording id>` for a song found only there."""

    __tablename__ = "additions"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    track_id: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # spotify, musicbrainz, presence
    source_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    artist: Mapped[str] = mapped_column(String(420))  # the credited artists, ", "-joined
    album: Mapped[str] = mapped_column(String(200), default="")
    album_id: Mapped[str] = mapped_column(String(64), default="")
    year: Mapped[int] = mapped_column(Integer, default=0)
    popularity: Mapped[int] = mapped_column(SmallInteger, default=0)
    tags: Mapped[list[str]] = mapped_column(default=list)
    first_asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    times_asked: Mapped[int] = mapped_column(Integer, default=1)

    @property
    def label(self) -> str:
        """How members see it named until the retrain: "title — artist"."""
        return f"{self.title} — {self.artist}"

    def __repr__(self) -> str:
        return f"<Addition {self.track_id} {self.title!r} by {self.artist!r}>"
