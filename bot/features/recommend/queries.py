"""Reading and writing the `queries` table: every answer with recommendations is kept
(a `recommend`, and each follow-up answer), with what it was asked and what it showed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.core.db import Database
from bot.core.db_outage import is_write_failure
from bot.core.dispatch import RequestContext, Services
from bot.features.followups.queries import expired_turns, new_turn
from bot.features.recommend.tables import Query
from recommender.followups import Conversation


@dataclass(frozen=True)
class StoredAnswer:
    """The rows one answer was stored as: its query, and its follow-up state if any."""

    query_id: int
    turn_id: int | None = None


async def record_query(
    db: Database,
    ctx: RequestContext,
    text: str,
    resolved_track_id: str | None,
    recommended_track_ids: Sequence[str],
    model_version: str,
    conversation: Conversation | None = None,
    understood: str | None = None,
) -> StoredAnswer:
    """Store one answer in one transaction: the query (👍/👎 are checked against it) and,
    with `conversation`, the state follow-ups steer. Answers stored at the same moment
    share the transaction (`Database.insert`), which keeps a burst of them quick."""

    def rows() -> list[Any]:
        made: list[Any] = [
            Query(
                guild_id=ctx.guild_id,
                channel_id=ctx.channel_id,
                user_id=ctx.user_id,
                source=ctx.source,
                query_text=text,
                resolved_track_id=resolved_track_id,
                recommended_track_ids=list(recommended_track_ids),
                model_version=model_version[:64],
                understood=None if understood is None else understood[:200],
            )
        ]
        if conversation is not None:
            made.append(new_turn(ctx, conversation, model_version))
        return made

    stored = await db.insert(rows, before=expired_turns if conversation is not None else None)
    return StoredAnswer(stored[0].id, stored[1].id if len(stored) > 1 else None)


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


async def save_query(
    services: Services,
    ctx: RequestContext,
    text: str,
    resolved_track_id: str | None,
    recommended_track_ids: Sequence[str],
    model_version: str,
    conversation: Conversation | None = None,
    understood: str | None = None,
) -> StoredAnswer | None:
    """`record_query`, but a database that refuses the write (full disk, read-only file,
    server gone) costs only the history row: None, and the answer is still sent (without
    the buttons that need the row). The database's `health` logs it and `!status` shows it.
    """
    try:
        return await record_query(
            services.db,
            ctx,
            text,
            resolved_track_id,
            recommended_track_ids,
            model_version,
            conversation,
            understood,
        )
    except Exception as error:
        if not is_write_failure(error):
            raise
        return None
