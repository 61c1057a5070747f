"""The `conversations` table: one row per answer a follow-up can steer.

Each answer the bot shows (a `!recommend`, `!more`, `!refine`, `!like`, a button press)
gets a row with the plain-data `recommender.followups.Conversation` state, so a follow-up
typed later, a reply to that very message or a button under it all find their state —
also after a restart. Rows expire after 30 minutes; expired ones are deleted on the next
write. Migration: migrations/versions/0003_conversations.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.tables import Base, RowId, SnowflakeId, utcnow


class ConversationTurn(Base):
    """One answer's follow-up state, owned by the member who asked in one channel."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(SnowflakeId)  # 0 = console / direct message
    channel_id: Mapped[int] = mapped_column(SnowflakeId)
    user_id: Mapped[int] = mapped_column(SnowflakeId)
    # The bot's message showing this answer, once sent (replies and buttons find it by id).
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # recommender.followups.Conversation.to_dict(): seeds, refinements, shown, last, earlier.
    state: Mapped[dict[str, Any]]
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    __table_args__ = (
        # "my last answer here": newest row per member and channel.
        Index("ix_conversations_owner", "guild_id", "channel_id", "user_id", "created_at"),
        # a reply to, or a button under, one of the bot's messages.
        Index("ix_conversations_message", "channel_id", "message_id"),
        Index("ix_conversations_expires_at", "expires_at"),
    )

    def __repr__(self) -> str:
        return f"<ConversationTurn #{self.id} user={self.user_id} message={self.message_id}>"
