"""`musicbot import mpd`: the Million Playlist Dataset's slices become a catalog that
trains and serves without audio features.

The fixture is written here in the MPD's own JSON layout from real playlists of the
dataset (so names and artists are real), not downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.frontends.cli import main as cli
from recommender import Recommender
from recommender.data import AUDIO_FEATURES, load_catalog, read_rows
from recommender.explain import NO_AUDIO, explain


@pytest.fixture(scope="module")
def slices(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two slices of 40 real playlists each, in the MPD's format."""
    rows = read_rows(dataset_path)
    playlists = rows["playlist_id"].drop_duplicates().iloc[::5].head(80).tolist()
    directory = tmp_path_factory.mktemp("mpd")
    for number in range(2):
        chunk = playlists[number * 40 : (number + 1) * 40]
        document = {
            "info": {"generated_on": "2017-12-03 08:41:42.057563", "slice": f"{number}"},
            "playlists": [],
        }
        for offset, playlist in enumerate(chunk):
            members = rows.loc[rows["playlist_id"] == playlist]
            document["playlists"].append(
                {
                    "name": members["playlist_name"].iloc[0],
                    "collaborative": "false",
                    "pid": number * 40 + offset,
                    "num_tracks": len(members),
                    "tracks": [
                        {
                            "pos": pos,
                            "artist_name": row.track_artist,
                            "track_uri": f"spotify:track:{row.track_id}",
                            "artist_uri": f"spotify:artist:{abs(hash(row.track_artist))}",
                            "track_name": row.track_name,
                            "album_uri": f"spotify:album:{row.track_album_id}",
                            "duration_ms": int(float(row.duration_ms)),
                            "album_name": row.track_album_name,
                        }
                        for pos, row in enumerate(members.itertuples())
                    ],
                }
            )
        first, last = number * 1000, number * 1000 + 999
        (directory / f"mpd.slice.{first}-{last}.json").write_text(json.dumps(document))
    return directory


@pytest.fixture(scope="module")
def imported(slices: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalog") / "mpd_songs.csv"
    assert cli(["import", "mpd", str(slices), "--out", str(out)]) == 0
    return out


def test_import_keeps_every_playlist_and_membership(slices: Path, imported: Path) -> None:
    documents = [json.loads(p.read_text()) for p in sorted(slices.glob("*.json"))]
    playlists = [p for d in documents for p in d["playlists"]]
    pairs = {(p["pid"], t["track_uri"]) for p in playlists for t in p["tracks"]}
    catalog = load_catalog(imported)
    assert catalog.num_playlists == len(playlists) == 80
    assert len(catalog.memberships) == len(pairs)
    assert catalog.num_tracks == len({uri for _, uri in pairs})
    tracks = catalog.tracks.set_index("track_id")
    some = playlists[3]["tracks"][0]
    track = tracks.loc[some["track_uri"].rsplit(":", 1)[1]]
    assert (track["track_name"], track["track_artist"]) == (some["track_name"], some["artist_name"])
    assert track["duration_ms"] == some["duration_ms"]
    others = [f for f in AUDIO_FEATURES if f != "duration_ms"]
    assert catalog.tracks[others].isna().all().all(), "the MPD has no audio features"


def test_an_mpd_catalog_trains_serves_and_why_says_there_is_no_audio(imported: Path) -> None:
    model = Recommender.train(imported, progress=False, epochs=5)
    assert np.isfinite(model.embeddings).all()
    query = model.resolve(str(model.catalog.tracks["track_name"].iloc[10])).best
    assert query is not None
    picks = model.similar(query.track_id, k=10)
    assert len(picks) == 10 and all(np.isfinite(p.score) for p in picks)
    reason = explain(model, query.track_id, picks[0].track_id)
    assert NO_AUDIO in reason
    assert "BPM" not in reason


def test_bad_slices_get_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["import", "mpd", str(tmp_path / "nowhere")]) == 1
    assert "not a directory of MPD slices" in capsys.readouterr().err
    (tmp_path / "mpd.slice.0-999.json").write_text('{"info": {}, "playlists": [')
    out = tmp_path / "out.csv"
    assert cli(["import", "mpd", str(tmp_path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "mpd.slice.0-999.json is not a readable MPD slice" in err
    assert "Traceback" not in err and not out.exists()
