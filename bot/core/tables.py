"""The database tables, as SQLAlchemy 2.0 typed models.

Every table the bot owns is declared here (or in a module imported here), on one
`Base.metadata`: Alembic's env and the schema test read that metadata, so a model added
without a migration fails the test. Later tables (training_runs, sessions, feedback,
conversations) go below `Query` with their own migration chained after 0001_queries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Fixed constraint names so later migrations can alter them (SQLite needs batch mode
# and names; PostgreSQL needs names to drop constraints).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite stores datetimes without a zone and hands back naive values; this puts UTC
    back on the way out so callers can always compare and format aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Discord ids are 64-bit snowflakes: BIGINT on PostgreSQL; SQLite needs INTEGER for
# autoincrement primary keys, hence the variant on `id` columns.
SnowflakeId = BigInteger
RowId = BigInteger().with_variant(Integer(), "sqlite")


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
    recommended_track_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        # `!history`: a member's newest queries within one server.
        Index("ix_queries_guild_user_created", "guild_id", "user_id", "created_at"),
    )

    def __repr__(self) -> str:
        return f"<Query #{self.id} user={self.user_id} {self.query_text!r}>"


# Tables declared in their own modules, registered on Base.metadata by importing them.
import bot.features.followups.tables  # noqa: E402,F401  (issue 7: conversations)
import bot.features.sessions.tables  # noqa: E402,F401  (issue 6: sessions, session_entries, feedback)
from bot.features.retrain import tables as training_models  # noqa: E402,F401  (issue 4: training_runs, lease)
