"""Reading a request as members type it: a famous song's bare title, an artist's name
(typos too), `title - artist` for a song the catalog lacks, on the real catalog."""

from __future__ import annotations

import pytest

from bot.features.recommend.handlers import find_song
from recommender import Reading, Recommender
from recommender.followups import more, refine, start, why
from recommender.followups.grammar import parse_refinements
from recommender.ranking import DEFAULT_ARTIST_CAP
from recommender.search import base_title, normalize


@pytest.mark.parametrize(
    ("title", "artist"),
    [
        ("wonderwall", "Oasis"),
        ("crazy in love", "Beyoncé"),
        ("happy", "Pharrell Williams"),
        ("lean on", "Major Lazer"),
        ("sandstorm", "Darude"),
        ("bailando", "Enrique Iglesias"),
        ("yeah!", "Usher"),
    ],
)
def test_a_bare_title_is_the_famous_song(recommender: Recommender, title: str, artist: str) -> None:
    understood = recommender.understand(title)
    assert understood.kind is Reading.SONG
    assert understood.song is not None and understood.song.artist == artist
    assert understood.songs, "the other songs of that title are offered"
    assert recommender.resolve(title).best == understood.song


@pytest.mark.parametrize(
    ("title", "artist", "newer"),
    [
        ("roxanne", "The Police", "Arizona Zervas"),
        ("juicy", "The Notorious B.I.G.", "Doja Cat"),
        ("money", "Pink Floyd", "Cardi B"),
        ("sugar", "Maroon 5", "BROCKHAMPTON"),
    ],
)
def test_a_classic_beats_a_newer_song_of_that_title_that_is_played_a_little_more(
    recommender: Recommender, title: str, artist: str, newer: str
) -> None:
    """Popularity counts recent plays: a song still played decades on is the famous one,
    and the newer song of that title is offered instead of lost."""
    index = recommender.index
    rows = [r for r, n in enumerate(index.names) if base_title(n) == title]
    top = max(rows, key=lambda r: index.popularity[r])
    assert index.artist_names[top] == newer, "the catalog plays the newer song more"
    understood = recommender.understand(title)
    assert understood.song is not None and understood.song.artist == artist
    assert newer in [s.artist for s in understood.songs]


@pytest.mark.parametrize(("title", "artist"), [("without me", "Halsey"), ("hello", "Adele")])
def test_a_recent_hit_far_more_played_than_an_older_song_stays_the_answer(
    recommender: Recommender, title: str, artist: str
) -> None:
    song = recommender.understand(title).song
    assert song is not None and song.artist == artist


def test_the_versions_of_a_song_choose_its_most_played_version(recommender: Recommender) -> None:
    """ "Juicy - 2005 Remaster" is "Juicy": the song is chosen, then its best-known cut."""
    index = recommender.index
    song = recommender.understand("juicy").song
    assert song is not None
    versions = [
        index.popularity[r]
        for r, n in enumerate(index.names)
        if base_title(n) == "juicy" and index.artist_names[r] == song.artist
    ]
    assert len(versions) > 1 and song.popularity == max(versions)


def test_a_title_typed_in_full_finds_its_remastered_version(recommender: Recommender) -> None:
    """The bracket is part of the title typed: the Remastered cut is that song too."""
    song = recommender.understand("Sweet Dreams (Are Made of This)").song
    assert song is not None and song.artist == "Eurythmics"


def test_a_whole_title_is_not_read_as_a_shorter_title_and_one_word_of_an_artist(
    recommender: Recommender,
) -> None:
    """ "in the end" is Linkin Park's song, not "The End" by In Flames."""
    song = recommender.understand("in the end").song
    assert song is not None and (song.name, song.artist) == ("In the End", "Linkin Park")
    hello = recommender.understand("hello adele").song  # a split still names an artist
    assert hello is not None and hello.artist == "Adele"


@pytest.mark.parametrize(
    ("text", "artist"),
    [
        ("bad guy (slowed)", "Billie Eilish"),
        ("wonderwall (acoustic)", "Oasis"),
        ("hello (live)", "Adele"),  # not "hello" by the band Live
        ("sweet dreams (remix)", "Eurythmics"),  # not "dreams remix" by Sweet
        ("blinding lights [8d audio]", "The Weeknd"),
    ],
)
def test_a_version_the_catalog_lacks_is_the_song_itself(
    recommender: Recommender, text: str, artist: str
) -> None:
    understood = recommender.understand(text)
    assert understood.kind is Reading.SONG
    assert understood.song is not None and understood.song.artist == artist


def test_a_version_the_catalog_has_is_found_as_typed(recommender: Recommender) -> None:
    song = recommender.understand("Torn (feat. Emelie Cyréus)").song
    assert song is not None and song.artist == "Chad Cooper"
    # Typed exactly, a title in brackets is that original, not its more played remix.
    slow = recommender.understand("Slow Dance (feat. Ava Max)").song
    assert slow is not None and slow.name == "Slow Dance (feat. Ava Max)"


@pytest.mark.parametrize(
    ("text", "artist"),
    [
        ("helo (live)", "Adele"),  # a typo before the version: still not the band Live
        ("bad gyu (slowed)", "Billie Eilish"),
        ("bad guy (slowed + reverb) [remastered 2011]", "Billie Eilish"),
    ],
)
def test_the_text_before_a_version_is_read_as_any_request(
    recommender: Recommender, text: str, artist: str
) -> None:
    song = recommender.understand(text).song
    assert song is not None and song.artist == artist


def test_a_bracket_naming_someone_is_not_a_version(recommender: Recommender) -> None:
    """ "hello (lionel richie)" names who sings it: never answered as Adele's Hello."""
    understood = recommender.understand("hello (lionel richie)")
    assert understood.song is None or understood.song.artist != "Adele"
    assert recommender.understand("levitating - dua lipa (live)").kind is Reading.MISSING_SONG


def test_many_empty_brackets_are_read_once(
    recommender: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message of empty brackets is not read again for each of them (each reading
    searches the whole catalog for typos: 200 characters of "()" took a second)."""
    search = recommender.index.search
    lookups = []
    resolve = search.resolve
    monkeypatch.setattr(search, "resolve", lambda *a, **k: lookups.append(a) or resolve(*a, **k))
    for text in ("zzqx" + "()" * 98, "helo" + "[]" * 98, "bad gyu" + " (x)" * 48, "bad gyu"):
        lookups.clear()
        recommender.understand(text)
        assert len(lookups) <= 4, (text, len(lookups))


@pytest.mark.parametrize(
    ("text", "title", "artist"),
    [
        ("new day", "New Day", None),  # not "New" by Daya
        ("Lady Karma", "Lady Karma", None),  # not "Karma" by the artist Lady
        ("Mad World (Feat. Michael Andrews)", "Mad World (Feat. Michael Andrews)", "Gary Jules"),
        ("sweet dreams are made of this", None, "Eurythmics"),  # brackets left out
    ],
)
def test_a_whole_title_beats_a_guess_at_a_title_and_an_artist(
    recommender: Recommender, text: str, title: str | None, artist: str | None
) -> None:
    song = recommender.understand(text).song
    assert song is not None
    assert title is None or song.name == title
    assert artist is None or song.artist == artist


@pytest.mark.parametrize(
    ("text", "title", "artist"),
    [
        ("Levitating - Dua Lipa", "Levitating", "Dua Lipa"),
        ("Flowers - Miley Cyrus", "Flowers", "Miley Cyrus"),
        ("Calm Down - Rema", "Calm Down", "Rema"),
        ("Levitating by Dua Lipa", "Levitating", "Dua Lipa"),
        ("levitating dua lipa", "levitating", "Dua Lipa"),
    ],
)
def test_a_missing_song_by_a_known_artist_is_songs_like_the_artist(
    recommender: Recommender, text: str, title: str, artist: str
) -> None:
    understood = recommender.understand(text)
    assert understood.kind is Reading.MISSING_SONG
    assert understood.song is None  # never another artist's song of that title
    assert understood.artist is not None and understood.artist.name == artist
    assert understood.title == title
    assert recommender.resolve(text).best is None


def test_a_missing_song_by_an_unknown_artist_gets_suggestions_only(
    recommender: Recommender,
) -> None:
    understood = recommender.understand("Levitating - Nobody In This Catalog")
    assert understood.kind is Reading.NOT_FOUND and understood.song is None
    assert understood.title == "Levitating"
    assert understood.suggestions  # the songs titled Levitating, offered as suggestions
    assert recommender.resolve("Levitating - Nobody In This Catalog").best is None


@pytest.mark.parametrize(
    ("text", "artist"),
    [
        ("dua lipa", "Dua Lipa"),
        ("drake", "Drake"),
        ("eminem", "Eminem"),
        ("bad bunny", "Bad Bunny"),
        ("coldplay", "Coldplay"),
        ("metalica", "Metallica"),
        ("metallica", "Metallica"),
        ("weeknd", "The Weeknd"),
        ("artist: dua lipa", "Dua Lipa"),
    ],
)
def test_an_artist_alone_is_that_artist(recommender: Recommender, text: str, artist: str) -> None:
    understood = recommender.understand(text)
    assert understood.kind is Reading.ARTIST
    assert understood.artist is not None and understood.artist.name == artist
    assert understood.summary == f"the artist {artist}"


def test_queen_is_the_band_and_the_song_is_offered(recommender: Recommender) -> None:
    understood = recommender.understand("queen")
    assert understood.kind is Reading.ARTIST and understood.artist is not None
    assert understood.artist.name == "Queen"
    assert [(s.name, s.artist) for s in understood.songs] == [("Queen", "Perfume Genius")]
    # A song far better known than an artist of the same name is the song.
    hello = recommender.understand("hello")
    assert hello.kind is Reading.SONG and hello.song is not None and hello.song.artist == "Adele"


def test_songs_like_an_artist_hold_at_most_two_of_theirs_and_spread_the_rest(
    recommender: Recommender,
) -> None:
    for name in ("Dua Lipa", "Queen", "Drake"):
        artist = recommender.understand(name.lower()).artist
        assert artist is not None
        picks = recommender.recommend_for_artist(artist, 10, artist_cap=DEFAULT_ARTIST_CAP)
        assert len(picks) == 10
        artists = [normalize(p.artist) for p in picks]
        assert artists.count(normalize(name)) <= 2
        assert all(artists.count(a) <= DEFAULT_ARTIST_CAP.per_artist for a in artists)
        # Without a spread the artist's own songs are still at most two.
        plain = recommender.recommend_for_artist(artist, 10)
        assert [normalize(p.artist) for p in plain].count(normalize(name)) <= 2


def test_follow_ups_work_on_an_artist_answer(recommender: Recommender) -> None:
    artist = recommender.understand("dua lipa").artist
    assert artist is not None
    seeds = recommender.artist_seeds(artist)
    first = start(recommender, seeds, k=10, artist_cap=DEFAULT_ARTIST_CAP, artist=artist.name)
    assert first.conversation.artist == "Dua Lipa" and len(first.answer.picks) == 10
    nxt = more(recommender, first.conversation, 10, artist_cap=DEFAULT_ARTIST_CAP)
    assert len(nxt.answer.picks) == 10
    assert not {p.track_id for p in nxt.answer.picks} & {p.track_id for p in first.answer.picks}
    calmer = refine(recommender, first.conversation, parse_refinements("chill").refinements, 10)
    assert calmer.answer.artist == "Dua Lipa"
    assert calmer.answer.applied[0].startswith("calmer than *Dua Lipa*")
    reason = why(recommender, first.conversation, 3)
    assert first.answer.picks[2].name in reason and "Dua Lipa" in reason


@pytest.mark.parametrize(
    ("text", "applied"),
    [
        (
            "Chasing Cars - Snow Patrol but more chill without remixes",
            ("calmer than *Chasing Cars*", "remixes removed"),
        ),
        ("Chasing Cars by Snow Patrol, no remixes", ("remixes removed",)),
        ("dua lipa but more chill", ("calmer than *Dua Lipa*",)),
    ],
)
def test_refinements_after_a_title_and_artist_apply(
    recommender: Recommender, text: str, applied: tuple[str, ...]
) -> None:
    found = find_song(recommender, text, 10, DEFAULT_ARTIST_CAP)
    assert found.applied is not None
    for words in applied:
        assert words in found.applied
    assert found.picks and len(found.picks) == 10


def test_an_unknown_word_after_a_title_and_artist_is_named_back(
    recommender: Recommender,
) -> None:
    found = find_song(recommender, "Tusa - KAROL G but more jazzy", 10, DEFAULT_ARTIST_CAP)
    assert found.best is not None and (found.best.name, found.best.artist) == ("Tusa", "KAROL G")
    assert found.applied is not None and "“jazzy”" in found.applied
