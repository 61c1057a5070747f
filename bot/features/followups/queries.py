"""Reading and writing the `conversations` table: each answer's follow-up state, kept for
`TTL` (expired rows are deleted on every write and at start-up)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Delete, delete, select, update

from bot.core.db import Database
from bot.core.dispatch import RequestContext
from bot.features.followups.tables import ConversationTurn
from recommender.followups import Conversation

TTL = timedelta(minutes=30)


def new_turn(
    ctx: RequestContext, conversation: Conversation, model_version: str
) -> ConversationTurn:
    """An answer's state as a new row (stored with its query: `record_query`)."""
    now = datetime.now(UTC)
    return ConversationTurn(
        guild_id=ctx.guild_id,
        channel_id=ctx.channel_id,
        user_id=ctx.user_id,
        state=conversation.to_dict(),
        model_version=model_version[:64],
        created_at=now,
        expires_at=now + TTL,
    )


def expired_turns() -> Delete:
    """Deletes the expired rows; runs with every write of new ones."""
    return delete(ConversationTurn).where(ConversationTurn.expires_at < datetime.now(UTC))


async def purge_expired(db: Database) -> int:
    """Delete expired conversation rows (also done on every write); returns how many."""
    async with db.writing() as session:
        result = await session.execute(expired_turns())
        return int(result.rowcount or 0)  # type: ignore[attr-defined]  # a DELETE's CursorResult


async def attach_message(db: Database, turn_id: int, message_id: int) -> None:
    """Remember which bot message shows this answer (for replies and buttons)."""
    async with db.writing() as session:
        await session.execute(
            update(ConversationTurn)
            .where(ConversationTurn.id == turn_id)
            .values(message_id=message_id)
        )


async def find_turn(
    db: Database, ctx: RequestContext, message_id: int | None = None
) -> ConversationTurn | None:
    """The unexpired answer a follow-up steers: the one shown in bot message `message_id`
    (in ctx's channel), or with None the member's newest answer in that channel."""
    now = datetime.now(UTC)
    statement = select(ConversationTurn).where(ConversationTurn.expires_at >= now)
    if message_id is not None:
        statement = statement.where(
            ConversationTurn.channel_id == ctx.channel_id,
            ConversationTurn.message_id == message_id,
        )
    else:
        statement = statement.where(
            ConversationTurn.guild_id == ctx.guild_id,
            ConversationTurn.channel_id == ctx.channel_id,
            ConversationTurn.user_id == ctx.user_id,
        )
    statement = statement.order_by(ConversationTurn.created_at.desc(), ConversationTurn.id.desc())
    async with db.session() as session:
        return (await session.scalars(statement.limit(1))).first()
