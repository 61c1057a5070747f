"""Serving a big catalog: the columnar model directory, the nearest-neighbour index.

The index is only built for catalogs above `ANN_MIN_TRACKS`; here the real model is saved
with a threshold low enough to get one, so the index is tested on real embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recommender import Recommender, SimilarQuery
from recommender.artifacts import ANN_FILE
from recommender.ranking import ArtistCap
from recommender.search import song_keys


@pytest.fixture(scope="module")
def indexed_dir(recommender, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("indexed") / "model"
    recommender.save(directory, ann_min_tracks=1_000)
    return directory


@pytest.fixture(scope="module")
def indexed(indexed_dir: Path) -> Recommender:
    return Recommender.load(indexed_dir)


def _queries(model: Recommender, count: int) -> list[str]:
    ids = model.catalog.tracks["track_id"].astype(str)
    return ids.iloc[np.linspace(0, len(ids) - 1, count, dtype=int)].tolist()


def test_a_catalog_above_the_threshold_is_saved_with_an_index_and_below_without(
    recommender, indexed_dir: Path, indexed: Recommender, tmp_path: Path
) -> None:
    assert (indexed_dir / ANN_FILE).is_file() and indexed.ann is not None
    assert json.loads((indexed_dir / "metadata.json").read_text())["ann"]["nprobe"] > 0
    plain = recommender.save(tmp_path / "plain")  # the real catalog is below the default
    assert not (plain / ANN_FILE).exists()
    assert Recommender.load(plain).ann is None


def test_the_index_finds_what_exact_search_finds(recommender, indexed: Recommender) -> None:
    """At least 98% of each top 10 is the exact top 10, and the rules still hold."""
    overlap = []
    for track_id in _queries(indexed, 300):
        approximate = indexed.similar(track_id, k=10)
        exact = recommender.similar(track_id, k=10)
        overlap.append(len({r.track_id for r in approximate} & {r.track_id for r in exact}) / 10)
        assert len(approximate) == 10
        query = indexed.track(track_id)
        keys = song_keys([r.name for r in approximate], [r.artist for r in approximate])
        assert song_keys([query.name], [query.artist])[0] not in keys
        assert len(set(keys)) == 10
    assert np.mean(overlap) >= 0.98


def test_the_index_answers_go_through_the_same_exclusions_and_artist_cap(
    recommender, indexed: Recommender
) -> None:
    cap = ArtistCap(per_artist=1, per_query_artist=0)
    seeds = [indexed.resolve(q).best.track_id for q in ("bad guy", "blinding lights")]
    shown = [r.track_id for r in indexed.recommend_for_tracks(seeds, k=10)]
    again = indexed.recommend_for_tracks(seeds, k=10, exclude=shown[:5], artist_cap=cap)
    assert len(again) == 10
    assert not {r.track_id for r in again} & set(shown[:5])
    artists = [r.artist for r in again]
    assert len(set(artists)) == 10
    seed_artists = {indexed.track(s).artist for s in seeds}
    assert not seed_artists & set(artists)
    exact = recommender.recommend_for_tracks(seeds, k=10, exclude=shown[:5], artist_cap=cap)
    assert len({r.track_id for r in again} & {r.track_id for r in exact}) >= 9


def test_a_model_saved_in_the_csv_format_still_loads_and_answers_the_same(
    recommender, tmp_path: Path
) -> None:
    """Models saved before the columnar format keep serving after an upgrade."""
    old = tmp_path / "old"
    old.mkdir()
    np.save(old / "embeddings.npy", recommender.embeddings)
    recommender.catalog.tracks.to_csv(old / "tracks.csv", index=False)
    recommender.catalog.playlists.to_csv(old / "playlists.csv", index=False)
    recommender.catalog.memberships.to_csv(old / "memberships.csv", index=False)
    (old / "metadata.json").write_text(json.dumps({**recommender.metadata, "format": 1}))

    loaded = Recommender.load(old)
    for track_id in _queries(recommender, 20):
        assert loaded.similar(track_id) == recommender.similar(track_id)
    assert loaded.resolve("hello adele") == recommender.resolve("hello adele")


def test_the_columnar_format_round_trips_the_catalog(recommender, tmp_path: Path) -> None:
    saved = Recommender.load(recommender.save(tmp_path / "again"))
    assert not (tmp_path / "again" / "tracks.csv").exists()
    for name in ("tracks", "playlists", "memberships"):
        before, after = getattr(recommender.catalog, name), getattr(saved.catalog, name)
        assert list(before.columns) == list(after.columns)
        assert before.astype(str).equals(after.astype(str)), name
    for text in ("hello adele", "bad gyu", "Blinding Lights - The Weeknd"):
        assert saved.resolve(text) == recommender.resolve(text)


def test_typo_search_narrowed_by_letter_triples_finds_what_a_full_scan_finds(
    recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big catalogs score only the titles sharing the most letter triples with the query."""
    from recommender import search

    index = recommender.index
    full = search.TitleIndex(
        index.row_of, index.titles, index.artists, index.song_keys, index.popularity
    )
    typos = ["bad gyu", "blindng lights", "shape of yuo", "dancng queen", "uptown funkk"]
    expected = [full.resolve(t) for t in typos]
    expected_complete = full.complete("blindng", 10)
    monkeypatch.setattr(search, "FUZZY_BLOCK_MIN", 0)
    monkeypatch.setattr(search, "FUZZY_CANDIDATES", 300)
    blocked = search.TitleIndex(
        index.row_of, index.titles, index.artists, index.song_keys, index.popularity
    )
    assert [blocked.resolve(t) for t in typos] == expected
    assert all(m.best is not None for m in expected)
    assert blocked.complete("blindng", 10)[:3] == expected_complete[:3]


def test_an_indexed_model_answers_a_batch_with_its_own_searches(indexed: Recommender) -> None:
    queries = [SimilarQuery(t, k=10) for t in _queries(indexed, 20)]
    assert indexed.similar_many(queries) == [indexed.similar(q.track_id, k=10) for q in queries]
