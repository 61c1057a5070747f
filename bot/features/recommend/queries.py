"""Reading and writing the `queries` table (every recommend request is kept)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from bot.core.db import Database
from bot.core.dispatch import RequestContext
from bot.features.recommend.tables import Query


async def record_query(
    db: Database,
    ctx: RequestContext,
    text: str,
    resolved_track_id: str | None,
    recommended_track_ids: Sequence[str],
    model_version: str,
) -> int:
    """Store one request; returns its id (front ends attach it to feedback buttons)."""
    row = Query(
        guild_id=ctx.guild_id,
        channel_id=ctx.channel_id,
        user_id=ctx.user_id,
        source=ctx.source,
        query_text=text,
        resolved_track_id=resolved_track_id,
        recommended_track_ids=list(recommended_track_ids),
        model_version=model_version[:64],
    )
    async with db.writing() as session:
        session.add(row)
        await session.flush()
        return row.id


async def recent_queries(db: Database, guild_id: int, user_id: int, limit: int = 10) -> list[Query]:
    """A member's newest queries in one server (or the console), newest first."""
    statement = (
        select(Query)
        .where(Query.guild_id == guild_id, Query.user_id == user_id)
        .order_by(Query.created_at.desc(), Query.id.desc())
        .limit(limit)
    )
    async with db.session() as session:
        return list((await session.scalars(statement)).all())
