"""The per-model catalog index: song and artist codes, version flags, playlists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from catalog_support import track_row

from recommender.catalog_index import CatalogIndex
from recommender.data import catalog_from_rows

TRACKS = [
    ("Hello", "Adele"),
    ("Hello - Remastered 2011", "Adele"),
    ("Hello (Live at the Church Studios)", "Adele"),
    ("Hello", "Eminem"),
    ("Stay - Kygo Remix", "Sash!"),
    ("Encore", "SASH"),
    ("Live While We're Young", "One Direction"),
    ("Mix Tape (Original Mix)", "Beyoncé"),
]


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    rows = pd.DataFrame(
        [track_row(f"{i:022d}", name, artist) for i, (name, artist) in enumerate(TRACKS)]
    )
    # Two playlists: one holds the first three tracks, the other tracks 3 and 4.
    for row, playlist in [(0, "p1"), (1, "p1"), (2, "p1"), (3, "p2"), (4, "p2")]:
        rows.loc[row, ["playlist_id", "playlist_name", "playlist_genre"]] = [
            playlist,
            f"Playlist {playlist}",
            "pop",
        ]
    return CatalogIndex(catalog_from_rows(rows))


def test_versions_of_a_song_share_a_song_code(index: CatalogIndex) -> None:
    codes = index.song_codes.tolist()
    assert codes[0] == codes[1] == codes[2]
    assert codes[3] != codes[0]  # same title, another artist
    assert len(set(codes)) == 6


def test_one_artist_spelled_two_ways_is_one_artist(index: CatalogIndex) -> None:
    assert index.artist_codes[4] == index.artist_codes[5]  # "Sash!" and "SASH"
    assert index.artist_codes[0] != index.artist_codes[3]
    assert index.artists[7] == "beyonce"


def test_remix_and_live_flags(index: CatalogIndex) -> None:
    assert index.remix.tolist() == [False, False, False, False, True, False, False, False]
    assert index.live.tolist() == [False, False, True, False, False, False, False, False]


def test_playlist_graph(index: CatalogIndex) -> None:
    graph = index.playlists
    assert graph.playlists_of[0] == graph.playlists_of[2] == {0}
    assert graph.playlists_of[5] == set()
    assert graph.tracks_of == [{0, 1, 2}, {3, 4}]
    assert graph.names == ["Playlist p1", "Playlist p2"]
    assert graph.playlists_of_artist[int(index.artist_codes[5])] == {1}  # SASH via Sash!


def test_warm_up_builds_the_lazy_parts_once() -> None:
    rows = pd.DataFrame([track_row(f"{i:022d}", name, a) for i, (name, a) in enumerate(TRACKS)])
    index = CatalogIndex(catalog_from_rows(rows))
    assert not {"remix", "live", "features", "playlists"} & set(vars(index))
    index.warm_up()
    built = {name: vars(index)[name] for name in ("remix", "live", "features", "playlists")}
    assert index.playlists is built["playlists"] and index.live is built["live"]
    assert np.array_equal(index.features["energy"], np.full(len(TRACKS), 0.5))


def test_a_loaded_model_has_one_index_that_search_and_ranking_read(recommender) -> None:
    index = recommender.index
    assert index.search.titles is index.titles and index.search.keys is index.song_keys
    hello = recommender.resolve("hello adele").best
    assert index.track_ids[recommender.row(hello.track_id)] == hello.track_id
