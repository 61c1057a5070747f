"""The recommender end to end on the real catalog: what `!recommend` relies on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender import Recommender, SimilarQuery, UnknownTrackError
from recommender.data import catalog_from_rows, read_rows
from recommender.ranking import DEFAULT_ARTIST_CAP, ArtistCap
from recommender.search import song_keys


@pytest.fixture(scope="module")
def sample_rows(dataset_path: Path) -> pd.DataFrame:
    """A few thousand real rows: enough playlists to learn from, quick to train."""
    rows = read_rows(dataset_path)
    playlists = rows["playlist_id"].drop_duplicates().iloc[::12]
    return rows.loc[rows["playlist_id"].isin(playlists)].reset_index(drop=True)


def test_similar_returns_ten_distinct_songs_never_the_query_or_its_versions(recommender) -> None:
    query = recommender.resolve("hello adele").best
    assert (query.name, query.artist) == ("Hello", "Adele")
    results = recommender.similar(query.track_id, k=10)
    assert len(results) == 10
    ids = [r.track_id for r in results]
    assert len(set(ids)) == 10 and all(i in recommender for i in ids)
    keys = song_keys([r.name for r in results], [r.artist for r in results])
    query_key = song_keys([query.name], [query.artist])[0]
    assert query_key not in keys, "another version of the query was recommended"
    assert len(set(keys)) == 10, "two versions of one song in one answer"
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)


def test_versions_of_a_song_are_excluded(recommender) -> None:
    tracks = recommender.catalog.tracks
    keys = pd.Series(song_keys(tracks["track_name"], tracks["track_artist"]))
    repeated = keys[keys.duplicated(keep=False)]
    for key in repeated.unique()[:25]:
        versions = set(tracks.loc[keys == key, "track_id"])
        for track_id in versions:
            assert versions.isdisjoint(r.track_id for r in recommender.similar(track_id))


def test_spotify_url_resolves_to_that_track(recommender) -> None:
    track_id = recommender.catalog.tracks["track_id"].iloc[1234]
    resolution = recommender.resolve(f"https://open.spotify.com/track/{track_id}?si=0a1b2c")
    assert resolution.best is not None and resolution.best.track_id == track_id


def test_a_spotify_link_to_no_single_song_says_what_it_is_and_suggests_nothing(
    recommender,
) -> None:
    """An album, playlist or artist link (or a local file) is not a misspelt title: its
    words ("spotify", "album") must not turn into unrelated "did you mean" songs."""
    for text, kind in (
        ("https://open.spotify.com/album/4yP0hdKOZPNshxUOjY0cZj?si=x", "album"),
        ("https://open.spotify.com/intl-de/playlist/37i9dQZF1DXcBWIGoYBM5M", "playlist"),
        ("spotify:artist:6qqNVTkY8uBg9cP3Jd7DAH", "artist"),
        ("spotify:local:Artist:Album:Song:215", "local"),
    ):
        resolution = recommender.resolve(text)
        assert resolution.best is None and resolution.suggestions == [], text
        assert resolution.not_a_song == kind
    track = recommender.resolve("https://open.spotify.com/track/2Fxmhks0bxGSBdJ92vM42m")
    assert track.best is not None and track.not_a_song is None


def test_recommend_for_tracks_excludes_every_seed(recommender) -> None:
    seeds = [
        recommender.resolve(q).best.track_id for q in ("bad guy", "blinding lights", "hello adele")
    ]
    results = recommender.recommend_for_tracks(seeds, k=10)
    assert len(results) == 10
    assert set(seeds).isdisjoint(r.track_id for r in results)
    assert len({r.track_id for r in results}) == 10


def test_unknown_track_id_is_a_clear_error(recommender) -> None:
    with pytest.raises(UnknownTrackError):
        recommender.similar("0000000000000000000000")


def test_saved_model_metadata_and_fast_load(trained_model_dir: Path, dataset_path: Path) -> None:
    metadata = json.loads((trained_model_dir / "metadata.json").read_text())
    assert metadata["counts"]["tracks"] == 28356 and metadata["counts"]["playlists"] == 471
    assert metadata["counts"]["rows"] == 32833
    assert len(metadata["dataset_sha256"]) == 64
    assert metadata["version"] and metadata["created_at"] and metadata["params"]["seed"] == 0
    loaded = Recommender.load(trained_model_dir)
    assert loaded.version == metadata["version"]
    assert np.isfinite(loaded.embeddings).all()


def test_catalog_only_release_is_embedded_and_recommended(sample_rows: pd.DataFrame) -> None:
    """A new release in no playlist yet still gets an embedding and can be recommended."""
    template = sample_rows.iloc[0]
    twins = pd.DataFrame(
        [
            {**template, "track_id": "NewReleaseA0000000000a", "track_name": "First Light"},
            {**template, "track_id": "NewReleaseB0000000000b", "track_name": "Second Wind"},
        ]
    )
    twins[["playlist_id", "playlist_name", "playlist_genre", "playlist_subgenre"]] = ""
    catalog = catalog_from_rows(pd.concat([sample_rows, twins], ignore_index=True))
    rec = Recommender.train(catalog, progress=False, epochs=30)
    assert "NewReleaseA0000000000a" in rec
    assert np.isfinite(rec.embeddings).all()
    top = rec.similar("NewReleaseA0000000000a", k=3)
    assert top[0].track_id == "NewReleaseB0000000000b"


def test_same_seed_same_model(sample_rows: pd.DataFrame) -> None:
    catalog = catalog_from_rows(sample_rows)
    first = Recommender.train(catalog, progress=False, epochs=10, seed=7)
    second = Recommender.train(catalog, progress=False, epochs=10, seed=7)
    other = Recommender.train(catalog, progress=False, epochs=10, seed=8)
    assert np.array_equal(first.embeddings, second.embeddings)
    assert not np.array_equal(first.embeddings, other.embeddings)


def test_broken_model_directory_is_reported(tmp_path: Path, trained_model_dir: Path) -> None:
    from recommender.artifacts import ArtifactError

    with pytest.raises(ArtifactError, match="no trained model"):
        Recommender.load(tmp_path)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "metadata.json").write_text((trained_model_dir / "metadata.json").read_text())
    with pytest.raises(ArtifactError, match="damaged"):
        Recommender.load(damaged)


def test_many_songs_asked_at_once_get_exactly_the_answers_each_gets_alone(recommender) -> None:
    """A burst of `!recommend`s is scored as one batch; nobody's list may change for it.
    (Hundreds of songs: scored one way alone and another way in a batch, about one answer
    in a hundred would show a score or an order that differs.)"""
    rng = np.random.default_rng(7)
    rows = rng.choice(len(recommender), 600, replace=False)
    track_ids = [recommender.index.track_ids[r] for r in rows]
    caps = [None, DEFAULT_ARTIST_CAP, ArtistCap(per_artist=1, per_query_artist=0)]
    queries = [
        SimilarQuery(t, k=(10, 3, 25)[i % 3], artist_cap=caps[i % len(caps)])
        for i, t in enumerate(track_ids)
    ]
    queries += [queries[0], SimilarQuery(track_ids[1], k=0)]  # the same song twice; none wanted
    alone = [recommender.similar(q.track_id, q.k, artist_cap=q.artist_cap) for q in queries]
    assert recommender.similar_many(queries) == alone
    # Whoever else is in the batch, and however large it is, the answers stay the same.
    assert recommender.similar_many(queries[:2]) == alone[:2]
    assert recommender.similar_many(queries[5:6]) == alone[5:6]
    assert recommender.similar_many(queries[::-1]) == alone[::-1]
    assert all(len(a) == q.k for a, q in zip(alone[:-1], queries, strict=False))
    with pytest.raises(UnknownTrackError):
        recommender.similar_many([queries[0], SimilarQuery("0000000000000000000000")])
