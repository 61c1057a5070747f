"""Conversational refinement on the real catalog: grammar, critiques, filters, follow-ups.

The measured test runs a fixed set of well-known query songs through the
refinements and checks what a person would notice: "chill" really is calmer than the
query while staying similar, "other artists" has none by the query's artist, and so on.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from recommender.followups import (
    Conversation,
    FollowUpError,
    Refinement,
    combine,
    like,
    more,
    parse_refinements,
    recommend,
    refine,
    split_request,
    start,
)
from recommender.search import base_title, normalize

# Fixed, varied query songs ("title - artist" so each resolves to one known track).
QUERY_SONGS = [
    "bad guy - Billie Eilish",
    "Blinding Lights - The Weeknd",
    "Shape of You - Ed Sheeran",
    "Smells Like Teen Spirit - Nirvana",
    "Billie Jean - Michael Jackson",
    "Bohemian Rhapsody - Queen",
    "Hotel California - Eagles",
    "Uptown Funk - Mark Ronson",
    "Old Town Road - Lil Nas X",
    "Rolling in the Deep - Adele",
    "Despacito - Luis Fonsi",
    "Take On Me - a-ha",
    "Sweet Child O' Mine - Guns N' Roses",
    "Levels - Avicii",
    "Get Lucky - Daft Punk",
    "Someone Like You - Adele",
    "Hey Ya! - OutKast",
    "Africa - TOTO",
    "Dancing Queen - ABBA",
    "Mr. Brightside - The Killers",
    "SICKO MODE - Travis Scott",
    "No Scrubs - TLC",
    "Enter Sandman - Metallica",
    "Believer - Imagine Dragons",
]


def names(refinements: list[Refinement]) -> list[str]:
    return [r.name for r in refinements]


@pytest.fixture(scope="module")
def query_ids(recommender) -> dict[str, str]:
    ids = {}
    for text in QUERY_SONGS:
        best = recommender.resolve(text).best
        assert best is not None, text
        assert normalize(text.split(" - ")[1]) == normalize(best.artist), (text, best.label)
        ids[text] = best.track_id
    return ids


@pytest.fixture(scope="module")
def bad_guy(query_ids) -> str:
    return query_ids["bad guy - Billie Eilish"]


# -- grammar ---------------------------------------------------------------------------
def test_refine_list_parses_critiques_filters_and_decades() -> None:
    parsed = parse_refinements("chill, no remixes, 2010s")
    assert names(parsed.refinements) == ["calmer", "no_remix", "years"]
    assert (parsed.refinements[2].low, parsed.refinements[2].high) == (2010, 2019)
    assert parsed.unknown == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("less chill", ["upbeat"]),
        ("no rap", ["less_talky"]),
        ("less talky", ["less_talky"]),
        ("without vocals", ["instrumental"]),
        ("not popular", ["deep_cuts"]),
        ("other artists and happier", ["other_artists", "happier"]),
        ("no live, slower tempo please", ["no_live", "slower"]),
        ("live", ["only_live"]),
        ("no 80s", ["not_years"]),
        ("before 2000", ["years"]),
    ],
)
def test_negation_and_less_turn_words_round(text: str, expected: list[str]) -> None:
    parsed = parse_refinements(text)
    assert names(parsed.refinements) == expected
    assert parsed.unknown == []


def test_year_phrases() -> None:
    spans = {
        t: (r.low, r.high)
        for t in ("90s", "'90s", "nineties", "1990s", "1990-1999", "before 2000", "after 2015")
        for r in parse_refinements(t).refinements
    }
    assert spans["90s"] == spans["'90s"] == spans["nineties"] == spans["1990s"] == (1990, 1999)
    assert spans["1990-1999"] == (1990, 1999)
    assert spans["before 2000"] == (None, 1999)
    assert spans["after 2015"] == (2016, None)


def test_unknown_words_are_named_back_not_dropped() -> None:
    parsed = parse_refinements("more chill, jazzy, no bagpipes")
    assert names(parsed.refinements) == ["calmer"]
    assert parsed.unknown == ["jazzy", "no bagpipes"]


def test_inline_refinements_split_from_the_song() -> None:
    request = split_request("bad guy but more chill without remixes")
    assert request.song == "bad guy"
    assert names(request.refinements) == ["calmer", "no_remix"]
    assert request.unknown == []


@pytest.mark.parametrize(
    "title",
    [
        "I Can't Live Without You",
        "Nothing But Thieves",
        "Hello, Goodbye",
        "Without Me",
        "No Scrubs",
    ],
)
def test_titles_with_connector_words_stay_whole(title: str) -> None:
    request = split_request(title)
    assert request.song == title
    assert request.refinements == [] and request.unknown == []


def test_split_prefers_the_connector_that_leaves_nothing_unexplained() -> None:
    request = split_request("I Can't Live Without You but calmer")
    assert request.song == "I Can't Live Without You"
    assert names(request.refinements) == ["calmer"]
    unknown = split_request("bad guy but more jazzy")
    assert unknown.song == "bad guy" and unknown.unknown == ["jazzy"]
    trailing = split_request("No Scrubs, 90s, other artists")
    assert trailing.song == "No Scrubs"
    assert names(trailing.refinements) == ["years", "other_artists"]


def test_combine_steps_replaces_and_resets() -> None:
    calmer = Refinement("calmer")
    assert combine([calmer], [calmer]) == [Refinement("calmer", steps=2)]
    assert combine([calmer], [Refinement("upbeat")]) == [Refinement("upbeat")]
    nineties, eighties = (
        Refinement("years", low=1990, high=1999),
        Refinement("years", 1, 1980, 1989),
    )
    assert combine([nineties, calmer], [eighties]) == [eighties, calmer]
    assert combine([nineties, calmer], [Refinement("reset")]) == []


# -- the measured test on the real catalog ---------------------------------------------
@pytest.fixture(scope="module")
def measured(recommender, query_ids) -> dict[str, dict[str, object]]:
    """Per query: the unconstrained answer and each refinement's answer."""
    table = {}
    for text, track_id in query_ids.items():
        table[text] = {
            name: recommend(recommender, [track_id], parse_refinements(words).refinements)
            for name, words in {
                "plain": "",
                "chill": "chill",
                "other": "other artists",
                "no_remix": "no remixes",
                "90s": "90s",
            }.items()
        }
    return table


def test_measured_chill_is_calmer_than_every_query_and_stays_similar(
    recommender, query_ids, measured
) -> None:
    drops, ratios = [], []
    for text, track_id in query_ids.items():
        plain, chill = measured[text]["plain"], measured[text]["chill"]
        assert chill.picks, f"'chill' found nothing for {text}"
        query_energy = float(recommender.track_table([track_id])["energy"].iloc[0])
        energies = recommender.track_table([p.track_id for p in chill.picks])["energy"]
        assert energies.mean() < query_energy, text
        assert len(chill.picks) == 10, text
        if chill.similarity < 0.8 * plain.similarity:  # it had to move: it says how far
            assert f"similarity {chill.similarity:.2f} against" in chill.note, text
        drops.append(query_energy - energies.mean())
        ratios.append(chill.similarity / plain.similarity)
    print(
        f"\nchill over {len(drops)} queries: mean energy drop {np.mean(drops):.3f} "
        f"(min {np.min(drops):.3f}); similarity ratio mean {np.mean(ratios):.3f} "
        f"(min {np.min(ratios):.3f})"
    )
    assert len(drops) == len(QUERY_SONGS)
    assert sum(ratio >= 0.8 for ratio in ratios) >= 20  # most stay close to the song


def test_measured_other_artists_has_none_by_the_query_artist(recommender, query_ids, measured):
    for text, track_id in query_ids.items():
        artist = normalize(recommender.track(track_id).artist)
        answer = measured[text]["other"]
        assert len(answer.picks) == 10, text
        assert all(normalize(p.artist) != artist for p in answer.picks), text
    # The filter did work: without it, some answers do contain the query's artist.
    assert any(
        normalize(p.artist) == normalize(recommender.track(t).artist)
        for text, t in query_ids.items()
        for p in measured[text]["plain"].picks
    )


def test_measured_no_remixes_and_90s(query_ids, measured) -> None:
    nineties_total = 0
    for text in query_ids:
        no_remix = measured[text]["no_remix"]
        assert len(no_remix.picks) == 10, text
        assert not any("remix" in p.name.lower() for p in no_remix.picks), text
        nineties = measured[text]["90s"]
        assert all(1990 <= p.release_year <= 1999 for p in nineties.picks), text
        assert len(nineties.picks) == 10, text  # the whole catalogue has 90s songs
        if nineties.similarity < 0.8 * nineties.usual_similarity:
            assert "further from it" in nineties.note, text
        nineties_total += len(nineties.picks)
    assert any("remix" in p.name.lower() for t in query_ids for p in measured[t]["plain"].picks)
    assert len(measured["Smells Like Teen Spirit - Nirvana"]["90s"].picks) == 10
    assert nineties_total == 10 * len(QUERY_SONGS)


def test_more_never_repeats_a_song_or_another_version_of_it(recommender, query_ids) -> None:
    for text in list(query_ids)[:6]:
        turn = start(recommender, [query_ids[text]])
        seen_ids = [p.track_id for p in turn.answer.picks]
        for _ in range(4):
            turn = more(recommender, turn.conversation)
            assert len(turn.answer.picks) == 10, text
            seen_ids += [p.track_id for p in turn.answer.picks]
        table = recommender.track_table(seen_ids)
        keys = [
            f"{base_title(n)}|{normalize(a)}"
            for n, a in zip(table.track_name, table.track_artist, strict=True)
        ]
        assert len(set(seen_ids)) == len(seen_ids) == 50, text
        assert len(set(keys)) == 50, text
        assert turn.conversation.page == 5


def test_more_keeps_the_refinements(recommender, bad_guy) -> None:
    first = start(
        recommender, [bad_guy], parse_refinements("no remixes, other artists").refinements
    )
    second = more(recommender, first.conversation)
    assert second.answer.summary == first.answer.summary
    assert "remixes removed" in second.answer.summary
    for pick in second.answer.picks:
        assert "remix" not in pick.name.lower() and pick.artist != "Billie Eilish"
    assert not {p.track_id for p in first.answer.picks} & {p.track_id for p in second.answer.picks}


def test_answer_states_what_was_applied(recommender, bad_guy) -> None:
    answer = recommend(
        recommender, [bad_guy], split_request("bad guy but more chill without remixes").refinements
    )
    energy = float(recommender.track_table([bad_guy])["energy"].iloc[0])
    # The bound is bad guy's energy, or lower when its usual matches are calmer still.
    match = re.fullmatch(
        r"calmer than \*bad guy\*( and its usual matches)?: energy < (0\.\d\d); remixes removed",
        answer.summary,
    )
    assert match, answer.summary
    bound = float(match.group(2))
    assert bound <= energy + 0.005
    if match.group(1) is None:
        assert abs(bound - energy) <= 0.01
    assert len(answer.picks) == 10 and answer.note == ""
    energies = recommender.track_table([p.track_id for p in answer.picks])["energy"]
    assert (energies < bound + 0.005).all()


def test_a_strict_combination_answers_from_further_away_and_says_so(recommender, query_ids) -> None:
    adele = query_ids["Someone Like You - Adele"]
    answer = recommend(
        recommender, [adele], parse_refinements("much calmer, acoustic, 90s").refinements
    )
    assert len(answer.picks) == 10
    assert answer.note.startswith("Few songs close to *Someone Like You*"), answer.note
    assert f"similarity {answer.similarity:.2f} against" in answer.note
    assert all(1990 <= p.release_year <= 1999 for p in answer.picks)


def test_an_answer_is_short_only_when_the_catalogue_is(recommender, bad_guy) -> None:
    """'same artist' and 'live' together: Billie Eilish has few live recordings here."""
    index = recommender.index
    billie = index.mentions(np.arange(len(index)), normalize("Billie Eilish"))
    passing = int((billie & index.live).sum())
    assert passing < 10
    answer = recommend(recommender, [bad_guy], parse_refinements("same artist, live").refinements)
    assert len(answer.picks) <= passing
    assert answer.note.startswith(("No songs", "Only")), answer.note
    assert "in the catalogue pass these refinements" in answer.note


def test_saying_calmer_twice_goes_further(recommender, bad_guy) -> None:
    once = start(recommender, [bad_guy], [Refinement("calmer")])
    twice = refine(recommender, once.conversation, [Refinement("calmer")])
    assert twice.conversation.refinements == [Refinement("calmer", steps=2)]
    energy = recommender.track_table
    mean_once = energy([p.track_id for p in once.answer.picks])["energy"].mean()
    mean_twice = energy([p.track_id for p in twice.answer.picks])["energy"].mean()
    assert mean_twice < mean_once


def test_upbeat_faster_and_filters_move_the_answer(recommender, query_ids) -> None:
    query = query_ids["Someone Like You - Adele"]
    row = recommender.track_table([query]).iloc[0]
    plain = recommend(recommender, [query])
    for words, feature, sign in [
        ("more upbeat", "energy", 1),
        ("faster", "tempo", 1),
        ("more acoustic", "acousticness", 1),
        ("sadder", "valence", -1),
    ]:
        answer = recommend(recommender, [query], parse_refinements(words).refinements)
        assert answer.picks, words
        values = recommender.track_table([p.track_id for p in answer.picks])[feature]
        assert sign * (values.mean() - row[feature]) > 0, words
        before = recommender.track_table([p.track_id for p in plain.picks])[feature].mean()
        assert sign * (values.mean() - before) > 0, words
    popular = recommend(recommender, [query], [Refinement("popular")])
    assert popular.picks and all(p.popularity >= 60 for p in popular.picks)
    deep = recommend(recommender, [query], [Refinement("deep_cuts")])
    assert deep.picks and all(p.popularity <= 30 for p in deep.picks)


def test_no_live_removes_live_recordings(recommender) -> None:
    live = recommender.index.live
    titles = recommender.catalog.tracks["track_name"]
    assert live[titles.str.contains(r" - Live\b", regex=True)].all()
    studio = titles.isin(["Live While We're Young", "More Than a Feeling", "No Diggity"])
    assert studio.sum() >= 3 and not live[studio].any()
    # A live track's neighbours include live recordings; "no live" removes them all.
    query = recommender.catalog.tracks["track_id"][titles.str.endswith(" - Live")].iloc[0]
    answer = recommend(recommender, [query], [Refinement("no_live")])
    assert not any(live[recommender.row(p.track_id)] for p in answer.picks)
    only = recommend(recommender, [query], [Refinement("only_live")])
    assert only.picks and all(live[recommender.row(p.track_id)] for p in only.picks)


# -- follow-ups ------------------------------------------------------------------------
def test_like_reseeds_from_a_pick_and_keeps_the_refinements(recommender, bad_guy) -> None:
    first = start(recommender, [bad_guy], [Refinement("other_artists")])
    third = first.answer.picks[2]
    chained = like(recommender, first.conversation, 3)
    assert chained.conversation.seeds == [third.track_id]
    assert chained.answer.query[0].track_id == third.track_id
    assert bad_guy in chained.conversation.earlier
    ids = {p.track_id for p in chained.answer.picks}
    assert bad_guy not in ids and third.track_id not in ids
    assert all(p.artist != third.artist for p in chained.answer.picks)
    again = like(recommender, chained.conversation, 1)  # chains naturally
    assert {bad_guy, third.track_id} <= set(again.conversation.earlier)
    with pytest.raises(FollowUpError, match="1 to 10"):
        like(recommender, first.conversation, 11)


def test_conversation_survives_json(recommender, bad_guy) -> None:
    first = start(recommender, [bad_guy], parse_refinements("chill, 2010s").refinements)
    stored = json.loads(json.dumps(first.conversation.to_dict()))
    restored = Conversation.from_dict(stored)
    assert restored == first.conversation
    after = more(recommender, restored)
    assert not {p.track_id for p in first.answer.picks} & {p.track_id for p in after.answer.picks}


# -- the whole catalogue, measured on seed songs -----------------------------------------
# What a member can say, and how to tell the answer moved that way: a critique's feature
# (+1 higher, -1 lower than the song's own), or a filter every pick must pass.
SEED_CRITIQUES = {
    "calmer": ("energy", -1),
    "more upbeat": ("energy", +1),
    "danceable": ("danceability", +1),
    "less danceable": ("danceability", -1),
    "acoustic": ("acousticness", +1),
    "electronic": ("acousticness", -1),
    "happier": ("valence", +1),
    "sadder": ("valence", -1),
    "faster": ("tempo", +1),
    "slower": ("tempo", -1),
    "instrumental": ("instrumentalness", +1),
    "vocals": ("instrumentalness", -1),
    "less talky": ("speechiness", -1),
    "talky": ("speechiness", +1),
}


def seed_filters(rec, row: int) -> dict[str, np.ndarray]:
    """Each filter as the set of catalogue rows that pass it, for a query row."""
    index = rec.index
    years = index.years
    known = years > 0
    artist = index.mentions(np.arange(len(index)), index.artists[row])
    return {
        "no remixes": ~index.remix,
        "remixes": index.remix,
        "no live": ~index.live,
        "live": index.live,
        "other artists": ~artist,
        "same artist": artist,
        "popular": index.popularity >= 60,
        "deep cuts": index.popularity <= 30,
        "older": known & (years < years[row]),
        "newer": known & (years > years[row]),
        "90s": known & (years >= 1990) & (years <= 1999),
        "before 2000": known & (years < 2000),
        "2010s": known & (years >= 2010) & (years <= 2019),
        "after 2015": years > 2015,
        "no 2010s": known & ((years < 2010) | (years > 2019)),
    }


@pytest.fixture(scope="module")
def seed_songs(recommender) -> list[str]:
    """24 popular songs by different artists, drawn from the dataset (none named in the
    tests or docs): recent pop, Latin, rap, rock classics, one instrumental EDM track."""
    tracks = recommender.catalog.tracks
    popular = tracks[tracks["track_popularity"] >= 50].drop_duplicates("track_artist")
    return popular.sample(24, random_state=2026)["track_id"].tolist()


def test_every_refinement_moves_the_answer_over_the_whole_catalogue(
    recommender, seed_songs
) -> None:
    """Each critique moves the answer past the song, each filter holds for every pick,
    for >= 95% of the seed songs where >= 10 catalogue songs could pass; and no answer is
    empty while >= 10 catalogue songs pass."""
    features = recommender.index.features
    moved: dict[str, list[bool]] = {}
    empty: list[str] = []
    for track_id in seed_songs:
        row = recommender.row(track_id)
        others = recommender.index.song_codes != recommender.index.song_codes[row]
        label = recommender.track(track_id).label
        for words, (feature, sign) in SEED_CRITIQUES.items():
            values = features[feature]
            if (sign * (values[others] - values[row]) > 0).sum() < 10:
                continue  # the song is already about as far as it goes
            answer = recommend(recommender, [track_id], parse_refinements(words).refinements)
            if not answer.picks:
                empty.append(f"{words} on {label}")
            picked = values[[recommender.row(p.track_id) for p in answer.picks]]
            ok = bool(len(picked)) and sign * (picked.mean() - values[row]) > 0
            moved.setdefault(words, []).append(ok)
        for words, passing in seed_filters(recommender, row).items():
            if (passing & others).sum() < 10:
                continue
            answer = recommend(recommender, [track_id], parse_refinements(words).refinements)
            if not answer.picks:
                empty.append(f"{words} on {label}")
            rows = [recommender.row(p.track_id) for p in answer.picks]
            moved.setdefault(words, []).append(bool(rows) and bool(passing[rows].all()))
    shares = {words: float(np.mean(oks)) for words, oks in moved.items()}
    print("\nshare of seed songs the refinement moved:", json.dumps(shares, indent=1))
    assert not empty, empty
    assert set(shares) == {*SEED_CRITIQUES, *seed_filters(recommender, 0)}
    assert all(len(moved[words]) >= 12 for words in ("instrumental", "90s", "before 2000"))
    assert {w: s for w, s in shares.items() if s < 0.95} == {}


def test_a_far_answer_says_how_far_it_moved(recommender, seed_songs) -> None:
    """'90s' on a 2019 Latin pop song: the catalogue's 90s songs are far from it, so the
    answer is full but says it had to move, and how far."""
    tracks = recommender.track_table(seed_songs)
    recent = tracks.loc[tracks["release_year"] >= 2018, "track_id"].tolist()
    notes = []
    for track_id in recent:
        answer = recommend(recommender, [track_id], parse_refinements("90s").refinements)
        assert len(answer.picks) == 10
        assert all(1990 <= p.release_year <= 1999 for p in answer.picks)
        if answer.note:
            notes.append(answer.note)
            assert answer.similarity < 0.8 * answer.usual_similarity
            assert f"similarity {answer.similarity:.2f} against" in answer.note
    assert notes  # some recent songs have no 90s neighbours: the answer says so
