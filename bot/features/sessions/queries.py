"""The sessions feature's storage: open and idle sessions, their songs, and the ended
ones a retrain learns from. Handlers (handlers.py), the idle sweep (cog.py) and
`!forgetme`/`!export` (privacy) read and write sessions through these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.tables import utcnow
from bot.features.sessions.tables import END_IDLE, ListeningSession, SessionEntry

MIN_PLAYLIST_SONGS = 3  # an ended session with fewer songs teaches the model nothing


async def end_idle_sessions(
    db: Database, idle_hours: float, channel_id: int | None = None, now: datetime | None = None
) -> list[ListeningSession]:
    """End open sessions idle for `idle_hours` (in one channel, or everywhere)."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=idle_hours)
    condition = and_(
        ListeningSession.ended_at.is_(None), ListeningSession.last_activity_at < cutoff
    )
    if channel_id is not None:
        condition = and_(condition, ListeningSession.channel_id == channel_id)
    # Look first: nearly always nothing is idle, and a write would queue behind others.
    async with db.session() as session:
        if await session.scalar(select(ListeningSession.id).where(condition).limit(1)) is None:
            return []
    async with db.writing() as session:
        stale = list((await session.scalars(select(ListeningSession).where(condition))).all())
        for row in stale:
            row.ended_at = now
            row.end_reason = END_IDLE
            row.open_channel_id = None
    return stale


async def open_session(db: Database, channel_id: int) -> ListeningSession | None:
    async with db.session() as session:
        return await session.scalar(
            select(ListeningSession).where(ListeningSession.open_channel_id == channel_id)
        )


async def session_entries(db: Database, session_id: int) -> list[SessionEntry]:
    async with db.session() as session:
        result = await session.scalars(
            select(SessionEntry)
            .where(SessionEntry.session_id == session_id)
            .order_by(SessionEntry.added_at, SessionEntry.id)
        )
        return list(result.all())


async def session_songs(db: Database, session_id: int) -> list[Row[str, int, str]]:
    """(track_id, user_id, user_name) of a session's songs, oldest first: what ranking
    needs, read as plain rows (a few times cheaper than entries for a big session)."""
    async with db.session() as session:
        result = await session.execute(
            select(SessionEntry.track_id, SessionEntry.user_id, SessionEntry.user_name)
            .where(SessionEntry.session_id == session_id)
            .order_by(SessionEntry.added_at, SessionEntry.id)
        )
        return list(result.all())


async def touch(db: Database, session_id: int) -> None:
    async with db.writing() as session:
        await session.execute(
            update(ListeningSession)
            .where(ListeningSession.id == session_id)
            .values(last_activity_at=utcnow())
        )


# -- training data ----------------------------------------------------------------------
@dataclass(frozen=True)
class CommunityPlaylist:
    session_id: int
    guild_id: int
    name: str
    track_ids: list[str]


async def community_playlists(
    session: AsyncSession, idle_hours: float, guild_id: int | None = None
) -> list[CommunityPlaylist]:
    """Ended sessions (or idle past SESSION_IDLE_HOURS) with MIN_PLAYLIST_SONGS+ songs.

    Read-only, so a retrain sees an idle session as ended even before a sweep closed it.
    """
    cutoff = utcnow() - timedelta(hours=idle_hours)
    ended = or_(ListeningSession.ended_at.is_not(None), ListeningSession.last_activity_at < cutoff)
    big_enough = (
        select(SessionEntry.session_id)
        .group_by(SessionEntry.session_id)
        .having(func.count(SessionEntry.id) >= MIN_PLAYLIST_SONGS)
    )
    query = select(ListeningSession).where(ended, ListeningSession.id.in_(big_enough))
    if guild_id is not None:
        query = query.where(ListeningSession.guild_id == guild_id)
    sessions = list((await session.scalars(query.order_by(ListeningSession.id))).all())
    if not sessions:
        return []
    entries = await session.execute(
        select(SessionEntry.session_id, SessionEntry.track_id)
        .where(SessionEntry.session_id.in_([s.id for s in sessions]))
        .order_by(SessionEntry.added_at, SessionEntry.id)
    )
    tracks: dict[int, list[str]] = {}
    for session_id, track_id in entries:
        tracks.setdefault(session_id, []).append(track_id)
    return [CommunityPlaylist(s.id, s.guild_id, s.name, tracks.get(s.id, [])) for s in sessions]
