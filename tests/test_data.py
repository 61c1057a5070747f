"""Catalog loading: bad files get one clear error; messy rows are handled, not fatal."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from recommender.data import AUDIO_FEATURES, REQUIRED_COLUMNS, DataError, load_catalog

ROW = {
    "track_id": "t1",
    "track_name": "Song One",
    "track_artist": "Artist A",
    "track_popularity": "50",
    "track_album_id": "al1",
    "track_album_name": "Album",
    "track_album_release_date": "2019-06-14",
    "playlist_name": "Mix",
    "playlist_id": "p1",
    "playlist_genre": "pop",
    "playlist_subgenre": "dance pop",
    **{feature: "0.5" for feature in AUDIO_FEATURES},
}


def write_csv(path: Path, rows: list[dict[str, str]], columns=REQUIRED_COLUMNS) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(**changes: str) -> dict[str, str]:
    return {**ROW, **changes}


def test_split_into_tracks_playlists_and_deduplicated_memberships(tmp_path: Path) -> None:
    rows = [
        row(),
        row(),  # the same (playlist, track) pair again
        row(track_id="t2", track_name="Song Two", playlist_id="p2", playlist_name="Other"),
        row(track_id="t1", playlist_id="p2", playlist_name="Other"),
    ]
    catalog = load_catalog(write_csv(tmp_path / "songs.csv", rows))
    assert catalog.num_tracks == 2
    assert catalog.num_playlists == 2
    assert len(catalog.memberships) == 3
    assert catalog.summary()["rows"] == 4
    assert "playlist_genre" not in catalog.tracks.columns
    assert len(catalog.sha256) == 64


def test_catalog_only_rows_are_tracks_without_memberships(tmp_path: Path) -> None:
    rows = [
        row(),
        row(track_id="new", track_name="New Release", playlist_id="", playlist_name=""),
    ]
    catalog = load_catalog(write_csv(tmp_path / "songs.csv", rows))
    assert set(catalog.tracks["track_id"]) == {"t1", "new"}
    assert catalog.num_playlists == 1
    new_row = int(catalog.tracks.index[catalog.tracks["track_id"] == "new"][0])
    assert new_row not in set(catalog.memberships["track"])


def test_empty_names_are_filled_not_fatal(tmp_path: Path) -> None:
    rows = [row(), row(track_id="t3", track_name="", track_artist="", track_album_name="")]
    catalog = load_catalog(write_csv(tmp_path / "songs.csv", rows))
    unnamed = catalog.tracks.loc[catalog.tracks["track_id"] == "t3"].iloc[0]
    assert unnamed["track_name"] == "Unknown"
    assert unnamed["track_artist"] == "Unknown"


def test_year_only_release_dates(tmp_path: Path) -> None:
    rows = [
        row(),
        row(track_id="t2", track_album_release_date="2013"),
        row(track_id="t3", track_album_release_date=""),
    ]
    years = load_catalog(write_csv(tmp_path / "songs.csv", rows)).tracks["release_year"].tolist()
    assert years == [2019, 2013, 0]


def test_missing_column_is_named(tmp_path: Path) -> None:
    columns = [c for c in REQUIRED_COLUMNS if c != "energy"]
    path = write_csv(tmp_path / "songs.csv", [row()], columns=columns)
    with pytest.raises(DataError, match="missing column.*energy"):
        load_catalog(path)


def test_non_numeric_feature_names_column_and_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "songs.csv", [row(), row(track_id="t2", tempo="fast")])
    with pytest.raises(DataError, match=r"line 3: column 'tempo' must be a number, got 'fast'"):
        load_catalog(path)


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_catalog(empty)
    with pytest.raises(DataError, match="no rows"):
        load_catalog(write_csv(tmp_path / "header.csv", []))


def test_garbage_file_is_one_clear_error(tmp_path: Path) -> None:
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\x00\xff" * 50)
    with pytest.raises(DataError):
        load_catalog(binary)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('a,b\n1,"unterminated\n')
    with pytest.raises(DataError):
        load_catalog(ragged)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_catalog(tmp_path / "nope.csv")


def test_real_dataset_counts(dataset_path: Path) -> None:
    catalog = load_catalog(dataset_path)
    assert catalog.summary() == {
        "rows": 32833,
        "tracks": 28356,
        "playlists": 471,
        "memberships": 32833 - 582,
    }


def test_missing_dataset_without_download_names_the_setting(tmp_path: Path) -> None:
    from recommender.data import ensure_dataset

    with pytest.raises(DataError, match="Set DATA_PATH"):
        ensure_dataset(tmp_path / "missing.csv", download=False)
    present = write_csv(tmp_path / "songs.csv", [row()])
    assert ensure_dataset(present, download=False) == present
