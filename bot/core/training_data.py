"""What a retrain learns from: DATA_PATH plus community data, gathered in one place.

`gather_training_rows(settings, session)` is the single entry point every retrain
(scheduled or `!retrain`) calls. It returns rows in the dataset's CSV schema (all text
columns), so community data is just more playlists.

Plugging in community data (group sessions, 👍 feedback): write

    @training_source("sessions")
    async def session_playlists(settings, session, base) -> pd.DataFrame: ...

in a module that is imported at start-up (one listed in `bot.features.HANDLERS`).
`session` is an AsyncSession; `base` holds the DATA_PATH rows, so `playlist_rows` can copy
each track's columns (names, album, audio features) into a new playlist. Return an empty
frame when there is nothing to add. Use playlist ids no public playlist has (e.g.
"community:session:<id>"). A source that raises fails the run (the old model stays), so
bad community data is seen, not silently dropped.

A source registered with `adds_tracks=True` brings songs the catalog lacks (rows with no
playlist: catalog-only tracks). It runs before the others, and its rows join `base`, so a
session or a 👍 that holds such a song gives it playlist edges like any catalog song.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.settings import Settings
from recommender.data import REQUIRED_COLUMNS, DataError, ensure_dataset, read_rows

log = logging.getLogger(__name__)

Source = Callable[[Settings, AsyncSession, pd.DataFrame], Awaitable[pd.DataFrame]]
# name → source; filled by `@training_source` in the modules that own the data.
TRAINING_SOURCES: dict[str, Source] = {}
# The sources that add songs to the catalog (see the module doc).
TRACK_SOURCES: set[str] = set()


def training_source(name: str, *, adds_tracks: bool = False) -> Callable[[Source], Source]:
    """Register a community data source for every future retrain (see module doc)."""

    def register(source: Source) -> Source:
        TRAINING_SOURCES[name] = source
        if adds_tracks:
            TRACK_SOURCES.add(name)
        return source

    return register


@dataclass
class TrainingRows:
    """The rows to train on, and how many came from where (for the run's metrics)."""

    rows: pd.DataFrame
    data_path: Path
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def community_rows(self) -> int:
        return sum(n for name, n in self.sources.items() if name != "data_path")

    def to_csv(self, directory: Path) -> Path:
        """The file the training process reads: DATA_PATH itself when nothing was added
        (no copy, and the model's dataset hash stays that of the file), else a snapshot."""
        if not self.community_rows:
            return self.data_path
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "training_rows.csv"
        self.rows.to_csv(path, index=False)
        return path


async def gather_training_rows(settings: Settings, session: AsyncSession) -> TrainingRows:
    """DATA_PATH rows plus every registered community source, in the CSV schema.

    Raises DataError when DATA_PATH cannot be read or a source returns rows without the
    dataset's columns.
    """
    data_path = await asyncio.to_thread(
        ensure_dataset, settings.data_path, settings.download_dataset
    )
    base = await asyncio.to_thread(read_rows, data_path)
    parts = [base]
    sources = {"data_path": len(base)}
    columns = base.columns
    # Songs added to the catalog first: the playlists of later sources may hold them.
    order = sorted(TRAINING_SOURCES, key=lambda name: name not in TRACK_SOURCES)
    for name in order:
        extra = await TRAINING_SOURCES[name](settings, session, base)
        if extra is None or extra.empty:
            sources[name] = 0
            continue
        missing = [c for c in REQUIRED_COLUMNS if c not in extra.columns]
        if missing:
            raise DataError(f"community source {name!r} is missing column(s): {missing}")
        extra = extra.loc[:, list(columns.intersection(extra.columns))].astype(str)
        parts.append(extra)
        sources[name] = len(extra)
        if name in TRACK_SOURCES:
            base = pd.concat([base, extra], ignore_index=True)
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else base
    log.info("training rows: %s", ", ".join(f"{k}={v}" for k, v in sources.items()))
    return TrainingRows(rows=rows, data_path=Path(settings.data_path), sources=sources)


def playlist_rows(
    base: pd.DataFrame,
    track_ids: Iterable[str],
    playlist_id: str,
    playlist_name: str,
    genre: str = "community",
    subgenre: str = "session",
) -> pd.DataFrame:
    """Rows of a new playlist holding `track_ids`, copying each track's columns from `base`.

    Tracks missing from `base` are skipped (the model only knows catalog tracks).
    """
    wanted = list(dict.fromkeys(track_ids))
    tracks = base.drop_duplicates("track_id").set_index("track_id", drop=False)
    rows = tracks.loc[[t for t in wanted if t in tracks.index]].reset_index(drop=True).copy()
    rows["playlist_id"] = playlist_id
    rows["playlist_name"] = playlist_name
    rows["playlist_genre"] = genre
    rows["playlist_subgenre"] = subgenre
    return rows
