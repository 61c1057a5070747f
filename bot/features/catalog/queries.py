"""Reading and writing `additions`, and the rows they become at the next retrain."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import datetime

import pandas as pd
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.tables import utcnow
from bot.core.training_data import training_source
from bot.features.catalog.tables import Addition
from recommender import TrackMetadata
from recommender.data import AUDIO_FEATURES, DATASET_COLUMNS

log = logging.getLogger(__name__)

# A source's name as stored: a presence is a Spotify track, named by its Spotify id.
ADDITION_PLAYLIST = ""  # no playlist: a catalog-only song until sessions and 👍 link it


class AdditionLog:
    """Looked-up songs noted by answers, written to `additions` together in one background
    transaction: an answer never waits for the bookkeeping, and a burst of lookups costs
    one write instead of one each (on SQLite, other members' answers queue behind writes).
    `flush` writes what is waiting now (before anything reads the table)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: dict[str, tuple[TrackMetadata, int, datetime, datetime]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def note(self, song: TrackMetadata) -> None:
        now = utcnow()
        known = self._waiting.get(song.track_id)
        first, times = (known[2], known[1] + 1) if known else (now, 1)
        self._waiting[song.track_id] = (song, times, first, now)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self.flush(), name="additions")

    async def flush(self) -> None:
        async with self._lock:
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                try:
                    await _write(self.db, batch)
                except Exception:  # answers went out; the log says what was not kept
                    log.exception("could not keep %d looked-up song(s)", len(batch))


async def _write(
    db: Database, batch: dict[str, tuple[TrackMetadata, int, datetime, datetime]]
) -> None:
    for _attempt in range(2):
        try:
            async with db.writing() as session:
                rows = await session.scalars(
                    select(Addition).where(Addition.track_id.in_(list(batch)))
                )
                existing = {row.track_id: row for row in rows}
                for track_id, (song, times, first, last) in batch.items():
                    row = existing.get(track_id)
                    if row is not None:
                        row.times_asked += times
                        row.last_asked_at = last
                        if song.tags and not row.tags:
                            row.tags = list(song.tags)
                        continue
                    session.add(
                        Addition(
                            track_id=track_id,
                            source=song.source,
                            source_id=song.source_id,
                            title=song.title,
                            artist=", ".join(song.artists)[:420],
                            album=song.album,
                            album_id=song.album_id,
                            year=song.year,
                            popularity=song.popularity,
                            tags=list(song.tags),
                            first_asked_at=first,
                            last_asked_at=last,
                            times_asked=times,
                        )
                    )
            return
        except IntegrityError:  # another bot process added one of them a moment ago
            continue


async def list_additions(db: Database, limit: int = 20) -> tuple[list[Addition], int]:
    """The most asked-for additions first, and how many there are in all."""
    async with db.session() as session:
        total = int(await session.scalar(select(func.count()).select_from(Addition)) or 0)
        rows = await session.scalars(
            select(Addition)
            .order_by(Addition.times_asked.desc(), Addition.first_asked_at)
            .limit(limit)
        )
        return list(rows.all()), total


async def additions_by_id(db: Database, track_ids: Collection[str]) -> list[Addition]:
    """The additions among `track_ids` (songs a session holds that the model lacks)."""
    if not track_ids:
        return []
    async with db.session() as session:
        rows = await session.scalars(
            select(Addition).where(Addition.track_id.in_(list(track_ids))).order_by(Addition.id)
        )
        return list(rows.all())


def addition_metadata(addition: Addition) -> TrackMetadata:
    """An addition as the lookup found it, to be placed by the model again."""
    return TrackMetadata(
        source=addition.source,
        source_id=addition.source_id,
        title=addition.title,
        artists=tuple(a for a in addition.artist.split(", ") if a),
        album=addition.album,
        album_id=addition.album_id,
        year=addition.year,
        popularity=addition.popularity,
        tags=tuple(addition.tags or ()),
    )


async def addition_ids(db: Database) -> list[str]:
    async with db.session() as session:
        return [str(t) for t in (await session.scalars(select(Addition.track_id))).all()]


async def remove_addition(db: Database, which: str) -> list[Addition]:
    """Remove the additions whose id (or Spotify id) is `which`; returns what went."""
    async with db.writing() as session:
        rows = list(
            (
                await session.scalars(
                    select(Addition).where(
                        or_(Addition.track_id == which, Addition.source_id == which)
                    )
                )
            ).all()
        )
        if rows:
            await session.execute(delete(Addition).where(Addition.id.in_([r.id for r in rows])))
        return rows


def addition_rows(additions: Collection[Addition], known: Collection[str]) -> pd.DataFrame:
    """Additions as catalog rows in the dataset's schema: no playlist, no audio features
    (unknown, not zero), the album as the source named it."""
    records = []
    for a in additions:
        if a.track_id in known:
            continue  # the catalog file has it now: its own row wins
        record = dict.fromkeys(DATASET_COLUMNS, "")
        record.update(
            track_id=a.track_id,
            track_name=a.title,
            track_artist=a.artist.split(", ")[0] if a.artist else "",
            track_popularity=str(int(a.popularity)),
            track_album_id=a.album_id or f"addition:{a.track_id}",
            track_album_name=a.album,
            track_album_release_date=str(a.year) if a.year else "",
            playlist_id=ADDITION_PLAYLIST,
        )
        for column in AUDIO_FEATURES:
            record[column] = ""
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(DATASET_COLUMNS))


@training_source("additions", adds_tracks=True)
async def additions_for_training(
    settings: Settings, session: AsyncSession, base: pd.DataFrame
) -> pd.DataFrame:
    """Every addition becomes an ordinary catalog song at the next retrain."""
    additions = (await session.scalars(select(Addition).order_by(Addition.id))).all()
    if not additions:
        return pd.DataFrame()
    return addition_rows(additions, set(base["track_id"]))
