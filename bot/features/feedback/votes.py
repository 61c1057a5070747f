"""👍/👎 on recommended tracks: storing a vote, and 👍 as training pairs.

A button carries only ids (`VoteTarget` ↔ its custom_id, in targets.py), so it keeps
working after a restart; the vote itself is validated against the database (the query or
session must exist in that server, the track must be one it recommended) and stored as
one row per member and pair (the song asked about, the pick) in a server: voting again,
on that message or under a repeat of the same question, changes that row.

Training (`liked_pairs`): per server, each (song asked about, recommended track) pair
with more 👍 than 👎 becomes a two-track community playlist. A 👎 never makes a pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.tables import utcnow
from bot.core.training_data import playlist_rows, training_source
from bot.features.feedback.tables import Feedback
from bot.features.feedback.targets import QUERY, VoteTarget
from bot.features.recommend.tables import Query
from bot.features.sessions.tables import ListeningSession

LIKE_PLAYLIST_PREFIX = "community:like:"


@dataclass(frozen=True)
class VoteOutcome:
    ok: bool
    previous: int | None = None  # the member's earlier vote on it, if any
    reason: str = ""


async def record_vote(
    db: Database,
    *,
    target: VoteTarget,
    value: int,
    guild_id: int,
    channel_id: int,
    message_id: int,
    user_id: int,
) -> VoteOutcome:
    """Store (or change) a member's vote; refuses votes that match no answer we gave."""
    async with db.writing() as session:
        query_id: int | None = None
        session_id: int | None = None
        seed: str | None
        if target.kind == QUERY:
            query = await session.get(Query, target.ref)
            if (
                query is None
                or query.guild_id != guild_id
                or target.track_id not in (query.recommended_track_ids or [])
            ):
                return VoteOutcome(False, reason="That answer is no longer stored.")
            query_id, seed = query.id, query.resolved_track_id
        else:
            listening = await session.get(ListeningSession, target.ref)
            if listening is None or listening.guild_id != guild_id:
                return VoteOutcome(False, reason="That session is no longer stored.")
            session_id, seed = listening.id, target.seed_track_id
        # One vote per member per pair (seed, pick) in a server: the same pick under a
        # repeat of the same question is the same vote, moved to the newest message.
        same_vote = (
            Feedback.message_id == message_id
            if seed is None
            else (Feedback.guild_id == guild_id) & (Feedback.seed_track_id == seed)
        )
        existing = await session.scalar(
            select(Feedback).where(
                same_vote, Feedback.user_id == user_id, Feedback.track_id == target.track_id
            )
        )
        if existing is not None:
            previous = existing.value
            existing.value = value
            existing.updated_at = utcnow()
            existing.message_id, existing.channel_id = message_id, channel_id
            existing.query_id, existing.session_id = query_id, session_id
            return VoteOutcome(True, previous=previous)
        session.add(
            Feedback(
                guild_id=guild_id,
                channel_id=channel_id,
                message_id=message_id,
                user_id=user_id,
                query_id=query_id,
                session_id=session_id,
                seed_track_id=seed,
                track_id=target.track_id,
                value=value,
            )
        )
        try:
            await session.flush()
        except IntegrityError:  # a double click raced us; the other insert counts
            await session.rollback()  # PostgreSQL refuses anything more in this transaction
            return VoteOutcome(True, previous=value)
    return VoteOutcome(True)


# -- training data ----------------------------------------------------------------------
async def liked_pairs(session: AsyncSession) -> list[tuple[int, str, str]]:
    """(guild, seed track, liked track) with more 👍 than 👎 in that server."""
    net = func.sum(Feedback.value)
    result = await session.execute(
        select(Feedback.guild_id, Feedback.seed_track_id, Feedback.track_id)
        .where(Feedback.seed_track_id.is_not(None))
        .group_by(Feedback.guild_id, Feedback.seed_track_id, Feedback.track_id)
        .having(net > 0)
        .order_by(Feedback.guild_id, Feedback.seed_track_id, Feedback.track_id)
    )
    return [(guild, str(seed), str(track)) for guild, seed, track in result if seed != track]


@training_source("likes")
async def liked_pair_playlists(
    settings: Settings, session: AsyncSession, base: pd.DataFrame
) -> pd.DataFrame:
    """Each 👍 pair as a two-track playlist `community:like:<n>` (👎 never adds one)."""
    parts = []
    for number, (_guild, seed, track) in enumerate(await liked_pairs(session), 1):
        rows = playlist_rows(
            base,
            [seed, track],
            f"{LIKE_PLAYLIST_PREFIX}{number}",
            "liked together",
            subgenre="like",
        )
        if len(rows) == 2:
            parts.append(rows)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
