"""What every table shares: the declarative `Base` (one `Base.metadata`), the UTC
datetime type and the id column types.

`Mapped[datetime]` is always a UTC datetime and `Mapped[dict[...]]` / `Mapped[list[...]]`
a JSON column (`Base.type_annotation_map`), so tables name a column type only where it
differs (ids, lengths).

Each feature declares its tables in its own `tables.py` on this Base;
`bot.features.import_tables()` imports them all, so Alembic's env and the schema test see
every table and a model added without a migration fails the test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase
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
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


# Discord ids are 64-bit snowflakes: BIGINT on PostgreSQL; SQLite needs INTEGER for
# autoincrement primary keys, hence the variant on `id` columns.
SnowflakeId = BigInteger
RowId = BigInteger().with_variant(Integer(), "sqlite")
