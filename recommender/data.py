"""Loading and validating the playlist/track catalog.

The CSV has one row per (playlist, track) occurrence. We split it into three
tables so that playlist columns can never leak into track features:
tracks (one row per track_id), playlists, and memberships (the graph's edges).
"""

from __future__ import annotations

import hashlib
import logging
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PUBLIC_URL = (
    "https://raw.githubusercontent.com/rfordatascience/tidytuesday/master/"
    "data/2020/2020-01-21/spotify_songs.csv"
)
PUBLIC_SHA256 = "9902920cfe4940f0914ebb6716801a42f7f19ac88fbd6693eaae7e2822b16845"

AUDIO_FEATURES: tuple[str, ...] = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
)
TRACK_TEXT_COLUMNS: tuple[str, ...] = (
    "track_id",
    "track_name",
    "track_artist",
    "track_album_id",
    "track_album_name",
    "track_album_release_date",
)
PLAYLIST_COLUMNS: tuple[str, ...] = (
    "playlist_id",
    "playlist_name",
    "playlist_genre",
    "playlist_subgenre",
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    *TRACK_TEXT_COLUMNS,
    "track_popularity",
    *PLAYLIST_COLUMNS,
    *AUDIO_FEATURES,
)
# The column order of spotify_songs.csv itself, for writing files that load as a catalog.
DATASET_COLUMNS: tuple[str, ...] = (
    "track_id",
    "track_name",
    "track_artist",
    "track_popularity",
    "track_album_id",
    "track_album_name",
    "track_album_release_date",
    "playlist_name",
    "playlist_id",
    "playlist_genre",
    "playlist_subgenre",
    *AUDIO_FEATURES,
)
UNKNOWN = "Unknown"


class DataError(ValueError):
    """The catalog cannot be used; the message says what and where, for a human."""


@dataclass(frozen=True)
class Catalog:
    """A validated catalog.

    tracks: one row per track, index 0..n-1 is the track's node number.
    playlists: one row per playlist, index 0..m-1 is the playlist's node number.
    memberships: deduplicated (playlist, track) edges as node numbers.
    """

    tracks: pd.DataFrame
    playlists: pd.DataFrame
    memberships: pd.DataFrame
    sha256: str = ""
    source_rows: int = 0

    @property
    def num_tracks(self) -> int:
        return len(self.tracks)

    @property
    def num_playlists(self) -> int:
        return len(self.playlists)

    def summary(self) -> dict[str, int]:
        return {
            "rows": self.source_rows,
            "tracks": self.num_tracks,
            "playlists": self.num_playlists,
            "memberships": len(self.memberships),
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _a_folder(path: Path) -> str:
    return (
        f"DATA_PATH: cannot read {path}: it is a folder, not a CSV file; point DATA_PATH at "
        f"the file (e.g. {path / 'spotify_songs.csv'})."
    )


def ensure_dataset(path: str | Path, download: bool = True) -> Path:
    """Return a path to the dataset, fetching the public copy if it is missing."""
    path = Path(path)
    if path.is_dir():
        raise DataError(_a_folder(path))
    if path.exists():
        return path
    if not download:
        raise DataError(f"Dataset not found at {path}. Set DATA_PATH to your spotify_songs.csv.")
    log.info("dataset missing at %s; downloading the public copy", path)
    try:
        with urllib.request.urlopen(PUBLIC_URL, timeout=30) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise DataError(
            f"Dataset not found at {path} and the public copy could not be downloaded "
            f"({error}). Set DATA_PATH to a local spotify_songs.csv."
        ) from error
    if hashlib.sha256(payload).hexdigest() != PUBLIC_SHA256:
        raise DataError("The downloaded dataset does not match the expected sha256; not used.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(payload)
    tmp.replace(path)
    return path


def read_rows(path: str | Path) -> pd.DataFrame:
    """Read the CSV as text columns; any parse failure becomes one DataError."""
    path = Path(path)
    if path.is_dir():
        raise DataError(_a_folder(path))
    if not path.exists():
        raise DataError(f"Dataset not found at {path}.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    except pd.errors.EmptyDataError as error:
        raise DataError(f"{path} is empty.") from error
    except pd.errors.ParserError as error:
        if _failed_read(error):
            # The parser could not get the bytes (memory, I/O): the file may be fine, and
            # calling it broken would send the admin to mend a CSV that needs no mending.
            raise MemoryError(f"could not read {path}: {_first_line(error)}") from error
        raise DataError(f"{path} is not a readable CSV: {_first_line(error)}") from error
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text (byte {error.start}).") from error
    return frame


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a CSV in the spotify_songs schema."""
    path = Path(path)
    rows = read_rows(path)
    return catalog_from_rows(rows, sha256=file_sha256(path), origin=str(path))


def catalog_from_rows(rows: pd.DataFrame, sha256: str = "", origin: str = "data") -> Catalog:
    """Validate raw rows (all text) and split them into tracks, playlists and memberships."""
    missing = [column for column in REQUIRED_COLUMNS if column not in rows.columns]
    if missing:
        raise DataError(f"{origin} is missing column(s): {', '.join(missing)}.")
    if rows.empty:
        raise DataError(f"{origin} has a header but no rows.")

    rows = rows.loc[:, list(REQUIRED_COLUMNS)].copy()
    for column in (*TRACK_TEXT_COLUMNS, *PLAYLIST_COLUMNS):
        rows[column] = rows[column].fillna("").astype(str).str.strip()
    rows["csv_line"] = np.arange(len(rows)) + 2  # header is line 1

    no_id = rows["track_id"] == ""
    if no_id.all():
        raise DataError(f"{origin}: no row has a track_id.")
    if no_id.any():
        log.warning("%s: skipping %d row(s) without track_id", origin, int(no_id.sum()))
        rows = rows.loc[~no_id]

    for column in (*AUDIO_FEATURES, "track_popularity"):
        rows[column] = _numeric_column(rows, column, origin)
    # A blank audio feature is unknown, not an error: catalogs such as the Million
    # Playlist Dataset have no audio features at all (NaN here; see `features_known`).
    rows["track_popularity"] = rows["track_popularity"].fillna(0.0)

    for column in ("track_name", "track_artist", "track_album_name"):
        rows[column] = rows[column].replace("", UNKNOWN)

    tracks = (
        rows.drop_duplicates("track_id", keep="first")
        .loc[
            :,
            [
                *TRACK_TEXT_COLUMNS,
                "track_popularity",
                *AUDIO_FEATURES,
            ],
        ]
        .reset_index(drop=True)
    )
    tracks["release_year"] = release_years(tracks["track_album_release_date"])

    in_playlist = rows.loc[rows["playlist_id"] != ""]
    playlists = (
        in_playlist.drop_duplicates("playlist_id", keep="first")
        .loc[:, list(PLAYLIST_COLUMNS)]
        .reset_index(drop=True)
    )
    track_index = pd.Series(np.arange(len(tracks)), index=tracks["track_id"])
    playlist_index = pd.Series(np.arange(len(playlists)), index=playlists["playlist_id"])
    pairs = in_playlist.drop_duplicates(["playlist_id", "track_id"])
    memberships = pd.DataFrame(
        {
            "playlist": playlist_index.loc[pairs["playlist_id"]].to_numpy(dtype=np.int64),
            "track": track_index.loc[pairs["track_id"]].to_numpy(dtype=np.int64),
        }
    )
    return Catalog(
        tracks=tracks,
        playlists=playlists,
        memberships=memberships,
        sha256=sha256,
        source_rows=len(rows),
    )


def features_known(tracks: pd.DataFrame) -> np.ndarray:
    """Per track: whether its audio features are known (all of them present)."""
    values = tracks.loc[:, list(AUDIO_FEATURES)].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.isfinite(values).all(axis=1)


def release_years(dates: pd.Series) -> pd.Series:
    """Album release year from 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD'; 0 where unknown."""
    years = pd.to_numeric(dates.astype(str).str.slice(0, 4), errors="coerce")
    return years.where((years >= 1900) & (years <= 2100)).fillna(0).astype(np.int64)


def _numeric_column(rows: pd.DataFrame, column: str, origin: str) -> pd.Series:
    raw = rows[column].astype(str).str.strip()
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    bad &= raw != ""  # blank: unknown (popularity 0; an audio feature missing)
    if bad.any():
        first = rows.loc[bad].iloc[0]
        shown = raw.loc[bad].iloc[0]
        raise DataError(
            f"{origin}, line {int(first['csv_line'])}: column '{column}' must be a number, "
            f"got {shown[:40]!r} (track {first['track_id'][:40]!r}); "
            f"{int(bad.sum())} row(s) affected."
        )
    return values.astype(float)


def _failed_read(error: Exception) -> bool:
    """pandas' C parser reports running out of memory, or a read that raised, as a parse error."""
    text = str(error).lower()
    return "out of memory" in text or "on source failed" in text


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return re.sub(r"\s+", " ", text[0]) if text else type(error).__name__
