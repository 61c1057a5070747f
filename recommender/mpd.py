"""The Million Playlist Dataset's JSON slices, converted into a catalog CSV.

The MPD ships as files `mpd.slice.0-999.json` … each holding
`{"info": {...}, "playlists": [{"pid", "name", "tracks": [{"pos", "artist_name",
"track_uri", "artist_uri", "track_name", "album_uri", "album_name", "duration_ms"}]}]}`.
We write one row per (playlist, track) in the spotify_songs.csv schema, so everything
that reads a catalog (training, evaluation, the bot) reads it unchanged.

The MPD has no audio features, popularity, release dates or genres: those columns are
left blank (duration_ms is known). Blank audio features load as unknown (the model
trains on playlists, artists and albums; `!why` says the sound can't be compared).
Slices are converted one at a time and appended, so memory stays that of one slice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recommender.data import AUDIO_FEATURES, DATASET_COLUMNS, DataError

_SLICE = re.compile(r"^mpd\.slice\.(\d+)-(\d+)\.json$")
_TRACK_KEYS = ("track_uri", "track_name", "artist_name", "album_uri", "album_name")


@dataclass(frozen=True)
class ImportSummary:
    slices: int
    playlists: int
    rows: int
    tracks: int
    skipped_tracks: int
    out: Path


def slice_files(directory: str | Path) -> list[Path]:
    """The slice files of a directory, in the order of their playlist ids."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory} is not a directory of MPD slices.")
    found = [p for p in directory.iterdir() if _SLICE.match(p.name)]
    if not found:
        found = sorted(directory.glob("*.json"))
    if not found:
        raise DataError(f"{directory} has no MPD slice files (mpd.slice.*.json).")

    def order(path: Path) -> tuple[int, str]:
        match = _SLICE.match(path.name)
        return (int(match.group(1)) if match else 0, path.name)

    return sorted(found, key=order)


def _uri_id(uri: object) -> str:
    """'spotify:track:4uLU6hMCjMI75M1A2tKUQC' -> '4uLU6hMCjMI75M1A2tKUQC'."""
    return str(uri or "").rsplit(":", 1)[-1].strip()


def slice_rows(path: Path) -> tuple[pd.DataFrame, int]:
    """One slice as catalog rows, and how many of its track entries had no track id."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path.name} is not a readable MPD slice: {error}") from error
    playlists = document.get("playlists") if isinstance(document, dict) else None
    if not isinstance(playlists, list):
        raise DataError(f"{path.name} is not an MPD slice: it has no 'playlists' list.")
    records: list[dict[str, str]] = []
    skipped = 0
    for playlist in playlists:
        if not isinstance(playlist, dict) or "pid" not in playlist:
            raise DataError(f"{path.name}: a playlist without a 'pid'.")
        pid = f"mpd-{playlist['pid']}"
        name = str(playlist.get("name", "")).strip() or pid
        for track in playlist.get("tracks") or ():
            track_id = _uri_id(track.get("track_uri")) if isinstance(track, dict) else ""
            if not track_id:
                skipped += 1
                continue
            duration = track.get("duration_ms", "")
            records.append(
                {
                    "track_id": track_id,
                    "track_name": str(track.get("track_name", "")),
                    "track_artist": str(track.get("artist_name", "")),
                    "track_popularity": "",
                    "track_album_id": _uri_id(track.get("album_uri")),
                    "track_album_name": str(track.get("album_name", "")),
                    "track_album_release_date": "",
                    "playlist_name": name,
                    "playlist_id": pid,
                    "playlist_genre": "",
                    "playlist_subgenre": "",
                    **dict.fromkeys(AUDIO_FEATURES, ""),
                    "duration_ms": "" if duration in (None, "") else str(duration),
                }
            )
    return pd.DataFrame.from_records(records, columns=list(DATASET_COLUMNS)), skipped


def import_mpd(directory: str | Path, out: str | Path) -> ImportSummary:
    """Convert every slice in `directory` into one catalog CSV at `out` (replaced whole:
    written next to it first, so a failed import leaves any earlier file as it was)."""
    files = slice_files(directory)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    playlists: set[str] = set()
    tracks: set[str] = set()
    rows = skipped = 0
    try:
        for number, path in enumerate(files):
            frame, missing = slice_rows(path)
            frame.to_csv(partial, mode="w" if number == 0 else "a", header=number == 0, index=False)
            playlists.update(frame["playlist_id"].unique().tolist())
            tracks.update(frame["track_id"].unique().tolist())
            rows += len(frame)
            skipped += missing
        if rows == 0:
            raise DataError(f"the MPD slices in {directory} hold no tracks.")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return ImportSummary(len(files), len(playlists), rows, len(tracks), skipped, out)


__all__ = ["ImportSummary", "import_mpd", "slice_files", "slice_rows"]
