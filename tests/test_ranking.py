"""The one ranking function (`ranking.top_k`) and the answers built on it."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from catalog_support import track_row

from recommender import Recommender
from recommender.data import catalog_from_rows
from recommender.ranking import ArtistCap, top_k
from recommender.rerank import group_picks

# Rows 0..7. Songs: rows 1 and 2 are versions of one song (code 1), so are 4 and 5.
SCORES = np.array([0.9, 0.8, 0.95, 0.1, 0.7, 0.75, 0.6, 0.5])
SONGS = np.array([0, 1, 1, 2, 3, 3, 4, 5])
ARTISTS = np.array([7, 7, 7, 8, 8, 8, 9, 7])


def rows(scores=SCORES, k=10, **options) -> list[int]:
    return top_k(scores, k, songs=options.pop("songs", SONGS), **options).rows.tolist()


def test_best_first_one_version_per_song() -> None:
    ranked = top_k(SCORES, 10, songs=SONGS)
    assert ranked.rows.tolist() == [2, 0, 5, 6, 7, 3]  # 1 and 4 are lesser versions
    assert ranked.scores.tolist() == [0.95, 0.9, 0.75, 0.6, 0.5, 0.1]
    assert ranked.pairs()[0] == (2, 0.95)


def test_excluding_a_row_excludes_its_other_versions() -> None:
    assert rows(exclude=[1]) == [0, 5, 6, 7, 3]
    assert rows(exclude=[0, 4], k=3) == [2, 6, 7]


def test_candidates_mask_limits_picks_and_masked_rows_do_not_use_up_their_song() -> None:
    mask = np.array([True, True, False, True, True, False, False, False])
    # Row 2 (the best version of song 1) is outside the mask, so row 1 stands for it.
    assert rows(candidates=mask) == [0, 1, 4, 3]
    assert rows(candidates=mask, exclude=[2]) == [0, 4, 3]
    assert rows(candidates=np.zeros(8, dtype=bool)) == []


def test_k_larger_than_candidates_and_empty_input() -> None:
    assert len(rows(k=100)) == 6
    assert rows(k=0) == [] and rows(k=-3) == []
    empty = top_k(np.zeros(0), 5, songs=np.zeros(0, dtype=np.int64))
    assert len(empty) == 0 and empty.scores.tolist() == []
    assert rows(exclude=range(8)) == []


def test_equal_scores_keep_row_order() -> None:
    flat = np.full(50, 0.5)
    assert rows(flat, k=5, songs=np.arange(50)) == [0, 1, 2, 3, 4]
    assert rows(flat, k=5, songs=np.arange(50), exclude=[1, 3]) == [0, 2, 4, 5, 6]


def test_artist_cap_per_artist_and_for_the_query_artist() -> None:
    cap = ArtistCap(per_artist=1, per_query_artist=2)
    # Artist 7 is the query's: two picks (2, 0); 8 and 9 get one each.
    assert rows(artists=ARTISTS, cap=cap, query_artists={7}) == [2, 0, 5, 6]
    # Without it being the query's, artist 7 gets one like everyone else.
    assert rows(artists=ARTISTS, cap=cap) == [2, 5, 6]
    no_query_artist = ArtistCap(per_artist=2, per_query_artist=0)
    assert rows(artists=ARTISTS, cap=no_query_artist, query_artists={7}) == [5, 6, 3]
    assert rows() == rows(artists=ARTISTS)  # no cap: the artists change nothing


def test_a_repeat_of_an_artist_must_beat_the_next_artist_by_the_penalty() -> None:
    # Artist 0 has the three best songs; artist 1 is close behind, 2 and 3 far behind.
    scores = np.array([0.9, 0.88, 0.87, 0.86, 0.5, 0.4, 0.3])
    artists = np.array([0, 0, 0, 1, 1, 2, 3])
    songs = np.arange(7)
    plain = ArtistCap(per_artist=2, per_query_artist=2)
    spread = ArtistCap(per_artist=2, per_query_artist=2, repeat_penalty=0.05)
    assert rows(scores, 5, songs=songs, artists=artists, cap=plain) == [0, 1, 3, 4, 5]
    # 0.88 - 0.05 < 0.86: artist 1's best comes before artist 0's second song
    assert rows(scores, 5, songs=songs, artists=artists, cap=spread) == [0, 3, 1, 4, 5]
    # The query's artist starts with one "pick" (the query): its best now waits too.
    assert rows(scores, 5, songs=songs, artists=artists, cap=spread, query_artists={0}) == [
        3,
        0,
        1,
        4,
        5,
    ]
    # A large penalty: every artist once before anyone twice.
    big = ArtistCap(per_artist=2, per_query_artist=2, repeat_penalty=1.0)
    assert rows(scores, 5, songs=songs, artists=artists, cap=big) == [0, 3, 5, 6, 1]
    # Scores come back as ranked (not lowered by the penalty).
    ranked = top_k(scores, 3, songs=songs, artists=artists, cap=spread)
    assert ranked.scores.tolist() == [0.9, 0.86, 0.88]


def test_repeat_penalty_matches_a_brute_force_greedy_over_a_large_pool() -> None:
    """Rows are looked at lazily (best raw scores first); the answer is still the greedy
    one over every row, also when the pool has to widen."""
    rng = np.random.default_rng(0)
    n = 5000
    scores = rng.random(n)
    artists = rng.integers(0, 40, n)
    cap = ArtistCap(per_artist=2, per_query_artist=1, repeat_penalty=0.002)
    got = top_k(scores, 10, songs=np.arange(n), artists=artists, cap=cap, query_artists={3})
    counts: Counter[int] = Counter()
    expected: list[int] = []
    for _ in range(10):
        best = max(
            (
                scores[i] - 0.002 * (counts[artists[i]] + (artists[i] == 3)),
                -i,
            )
            for i in range(n)
            if i not in expected and counts[artists[i]] < (1 if artists[i] == 3 else 2)
        )
        expected.append(-best[1])
        counts[artists[-best[1]]] += 1
    assert got.rows.tolist() == expected


def test_a_big_catalog_gets_the_picks_a_full_sort_gives() -> None:
    """Only rows that can be among the best are sorted; ties (kept in row order), close
    neighbours in adjacent rows and many versions give the same picks as sorting all."""
    rng = np.random.default_rng(1)
    n = 30_000
    songs = rng.integers(0, n // 3, n)  # about three versions per song
    for scores in (
        np.round(rng.random(n), 3),  # many ties
        np.repeat(np.round(rng.random(n // 100), 2), 100),  # the best rows side by side
    ):
        for k, exclude in ((10, [int(np.argmax(scores))]), (1, []), (60, list(range(50)))):
            order = np.lexsort((np.arange(n), -scores))
            banned = {songs[row] for row in exclude}
            expected: list[int] = []
            for row in order.tolist():
                if songs[row] not in banned and len(expected) < k:
                    banned.add(songs[row])
                    expected.append(row)
            assert rows(scores, k=k, songs=songs, exclude=exclude) == expected


def test_cap_needs_artists_and_songs_must_match_scores() -> None:
    with pytest.raises(ValueError, match="artist"):
        top_k(SCORES, 3, songs=SONGS, cap=ArtistCap(1, 1))
    with pytest.raises(ValueError, match="song"):
        top_k(SCORES, 3, songs=SONGS[:3])
    with pytest.raises(ValueError):
        ArtistCap(per_artist=0, per_query_artist=1)
    with pytest.raises(ValueError):
        ArtistCap(per_artist=2, per_query_artist=2, repeat_penalty=-0.1)


def test_pool_widens_when_versions_and_caps_use_it_up() -> None:
    """Many versions of the top songs and one prolific artist: still k distinct picks."""
    n = 2000
    scores = np.linspace(1.0, 0.0, n)
    songs = np.arange(n) // 40  # 40 versions per song
    artists = np.where(np.arange(n) < 1600, 0, np.arange(n))  # the top 1600 by one artist
    ranked = top_k(scores, 10, songs=songs, artists=artists, cap=ArtistCap(2, 2))
    assert len(ranked) == 10
    assert len(set(songs[ranked.rows])) == 10
    assert Counter(artists[ranked.rows].tolist())[0] == 2
    assert list(ranked.scores) == sorted(ranked.scores, reverse=True)


# -- on the real catalog -------------------------------------------------------------------
def test_similar_with_an_artist_cap_spreads_artists(recommender) -> None:
    query = recommender.resolve("bad guy - Billie Eilish").best
    plain = recommender.similar(query.track_id, k=10)
    capped = recommender.similar(
        query.track_id, k=10, artist_cap=ArtistCap(per_artist=2, per_query_artist=1)
    )
    assert len(capped) == 10
    by_artist = Counter(r.artist for r in capped)
    assert by_artist["Billie Eilish"] <= 1
    assert max(by_artist.values()) <= 2
    assert Counter(r.artist for r in plain)["Billie Eilish"] > 1  # the cap did something
    assert [r.score for r in capped] == sorted((r.score for r in capped), reverse=True)


# -- group picks ---------------------------------------------------------------------------
def _tiny_model(tracks: list[tuple[str, str, tuple[float, float]]]) -> Recommender:
    frame = pd.DataFrame(
        [track_row(f"{i:022d}", name, artist) for i, (name, artist, _) in enumerate(tracks)]
    )
    embeddings = np.array([vector for _, _, vector in tracks], dtype=np.float32)
    return Recommender(catalog_from_rows(frame), embeddings)


def test_group_picks_never_hold_two_versions_of_one_song() -> None:
    """Each listener's closest song is one version of the same song: only one is picked."""
    model = _tiny_model(
        [
            ("Seed One", "Ann", (1.0, 0.0)),
            ("Seed Two", "Bob", (0.0, 1.0)),
            ("Song X", "Xavier", (1.0, 0.3)),
            ("Song X - Remastered 2011", "Xavier", (0.3, 1.0)),
            *((f"Filler {i}", f"Artist {i}", (-1.0, 0.1 * i)) for i in range(6)),
        ]
    )
    seeds = [model.index.track_ids[0], model.index.track_ids[1]]
    picks = group_picks(model, seeds, k=4)
    names = [p.track.name for p in picks]
    assert len(picks) == 4
    assert sum(name.startswith("Song X") for name in names) == 1, names
