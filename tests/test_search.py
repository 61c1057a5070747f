"""Resolution of what people type, on a small hand-made catalog."""

from __future__ import annotations

import pandas as pd
import pytest
from catalog_support import track_row

from recommender.catalog_index import CatalogIndex
from recommender.data import catalog_from_rows
from recommender.search import TitleIndex, base_title, normalize, song_keys, spotify_track_id

TRACKS = [
    # track_id (22 chars), name, artist, popularity
    ("4sPmO7WMQUAf45kwMOtONw", "Hello", "Adele", "73"),
    ("0FkGW2d1KDgv1kF0pUUNAK", "Hello", "Eminem", "0"),
    ("6bZPXrpVoBVmtw2H5M8PPW", "Hello", "Ice Cube", "55"),
    ("1vVEdVZaGBKgmVxGUHBfnE", "Hello - Remastered 2011", "Adele", "40"),
    ("2Fxmhks0bxGSBdJ92vM42m", "bad guy", "Billie Eilish", "95"),
    ("3yNZ5r3LKfdmjoS3gkhUCT", "Bad Guy", "Critic City", "20"),
    ("7qiZfU4dY1lWllzX7mPBI3", "Stand by Me", "Ben E. King", "80"),
    ("0nrRP2bk19rLc0orkWPQk2", "Café Del Mar", "Energy 52", "45"),
    ("3gM00KjzFqb375IGk7FyWL", "With Or Without You", "Maddix", "39"),
    ("0hur9YKoUq3uwte8K30zlC", "With Or Without You - Kage Remix", "Maddix", "32"),
]


@pytest.fixture(scope="module")
def index() -> TitleIndex:
    rows = pd.DataFrame([track_row(*track) for track in TRACKS])
    return CatalogIndex(catalog_from_rows(rows)).search


def names(index: TitleIndex, rows) -> list[str]:
    return [f"{index.titles[r]} | {index.artists[r]}" for r, _ in rows]


def best(index: TitleIndex, text: str) -> str | None:
    match = index.resolve(text)
    return (
        None if match.best is None else f"{index.titles[match.best]} | {index.artists[match.best]}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "hello adele",
        "HELLO ADELE",
        "Hello - Adele",
        "hello by adele",
        "Adele - Hello",
        "adele hello",
    ],
)
def test_title_and_artist_in_any_common_form(index: TitleIndex, text: str) -> None:
    assert best(index, text) == "hello | adele"


def test_shared_title_picks_most_popular_and_lists_the_others(index: TitleIndex) -> None:
    match = index.resolve("hello")
    assert best(index, "hello") == "hello | adele"
    alternatives = names(index, match.alternatives)
    assert "hello | ice cube" in alternatives and "hello | eminem" in alternatives
    # the remaster is another version of the chosen song, not an alternative
    assert all("remastered" not in a for a in alternatives)


def test_artist_picks_among_shared_titles(index: TitleIndex) -> None:
    assert best(index, "hello eminem") == "hello | eminem"
    assert best(index, "bad guy - critic city") == "bad guy | critic city"
    assert best(index, "bad guy") == "bad guy | billie eilish"


def test_a_version_named_with_its_artist_is_that_version(index: TitleIndex) -> None:
    """Copied as "title - version - artist", the remix is meant, not the more popular
    original whose title is a prefix and whose artist the rest also names."""
    assert best(index, "With Or Without You - Kage Remix - Maddix") == (
        "with or without you kage remix | maddix"
    )
    assert best(index, "With Or Without You - Maddix") == "with or without you | maddix"


def test_typos_are_forgiven(index: TitleIndex) -> None:
    assert best(index, "bad gyu") == "bad guy | billie eilish"
    assert best(index, "helo adel") == "hello | adele"


def test_by_inside_a_title_is_not_mistaken_for_an_artist(index: TitleIndex) -> None:
    assert best(index, "stand by me") == "stand by me | ben e king"


def test_accents_and_case_are_ignored(index: TitleIndex) -> None:
    assert best(index, "cafe del mar") == "cafe del mar | energy 52"


@pytest.mark.parametrize(
    "text",
    [
        "https://open.spotify.com/track/2Fxmhks0bxGSBdJ92vM42m?si=abc123",
        "https://open.spotify.com/intl-de/track/2Fxmhks0bxGSBdJ92vM42m",
        "spotify:track:2Fxmhks0bxGSBdJ92vM42m",
        "2Fxmhks0bxGSBdJ92vM42m",
    ],
)
def test_spotify_links_uris_and_ids(index: TitleIndex, text: str) -> None:
    assert best(index, text) == "bad guy | billie eilish"


def test_unknown_song_gets_suggestions_not_a_guess(index: TitleIndex) -> None:
    match = index.resolve("zzqx plorb wibble")
    assert match.best is None
    assert 0 < len(match.suggestions) <= 3


def test_empty_and_huge_input(index: TitleIndex) -> None:
    assert index.resolve("   ").best is None
    assert index.resolve("!!!").best is None
    assert index.resolve("x" * 5000).best is None


def test_autocomplete_prefix_then_popularity(index: TitleIndex) -> None:
    completed = names(index, index.complete("he", limit=5))
    assert completed[0] == "hello | adele"
    assert "hello | ice cube" in completed
    assert len(index.complete("", limit=3)) == 3


def test_versions_share_a_song_key() -> None:
    keys = song_keys(
        ["Hello", "Hello - Remastered 2011", "Hello (Live)", "Hello"], ["Adele"] * 3 + ["Eminem"]
    )
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert base_title("Bad Guy (with Justin Bieber)") == "bad guy"
    assert normalize("  Beyoncé & JAY-Z ") == "beyonce and jay z"
    assert spotify_track_id("not a link") is None


def test_a_spotify_link_outside_the_catalog_gets_no_lookalike_guesses(index: TitleIndex) -> None:
    match = index.resolve("https://open.spotify.com/track/7ouMYWpwJ422jRcDASZB7P")
    assert match.best is None and match.suggestions == [] and match.alternatives == []
