"""Music asked for in words: genres, subgenres, moods, eras and their mixes, answered from
the whole catalogue with what was understood, followed up like any answer, and picks that
show one bounded number in the list's order (the same one `!why` repeats)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.core.dispatch import CONSOLE, RequestContext, Services
from bot.core.replies import Reply, render_text
from bot.core.serving import ModelHolder
from bot.core.settings import Settings
from bot.core.text import plain
from recommender import Recommender
from recommender.data import Catalog
from recommender.followups import parse_refinements
from recommender.followups.grammar import CRITIQUES
from recommender.vocabulary import Vocabulary

MATCH = re.compile(r" · (\d+)%$")


@pytest.fixture(scope="module")
async def services(tmp_path_factory: pytest.TempPathFactory, recommender, database_url: str):
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("describe"),
        database_url=database_url,
        model_dir=Path("/nonexistent"),  # the model comes from the holder
        cooldown_rate=1000,
    )
    services = Services(settings, models=ModelHolder(recommender))
    await services.start()
    yield services
    await services.close()


def member(uid: int) -> RequestContext:
    return RequestContext(
        guild_id=9, channel_id=9, user_id=uid, user_name=f"m{uid}", source=CONSOLE
    )


def picked(recommender: Recommender, reply: Reply) -> list[int]:
    """Catalog rows of the songs a reply lists."""
    return [recommender.row(line.url.rsplit("/", 1)[1]) for line in reply.lines]


def matches(reply: Reply) -> list[int]:
    return [int(MATCH.search(line.note).group(1)) for line in reply.lines]


def labelled(recommender: Recommender, column: str, value: str) -> np.ndarray:
    """Rows in a playlist the catalog labels `value` (read from the catalog, not the
    vocabulary's own masks)."""
    catalog = recommender.catalog
    playlists = np.flatnonzero(catalog.playlists[column].astype(str).str.casefold() == value)
    tracks = catalog.memberships.loc[catalog.memberships["playlist"].isin(playlists), "track"]
    mask = np.zeros(len(recommender), dtype=bool)
    mask[tracks.to_numpy()] = True
    return mask


# -- the vocabulary ------------------------------------------------------------------------
def test_the_vocabulary_is_learned_from_the_catalog_and_saved_with_the_model(
    trained_model_dir: Path, recommender, tmp_path: Path
) -> None:
    saved = json.loads((trained_model_dir / "metadata.json").read_text())["vocabulary"]["terms"]
    assert saved["neo soul"] == "subgenre" and saved["rap"] == "genre"
    assert saved["classic rock"] == "subgenre" and saved["r&b"] == "genre"
    assert saved.get("jazz") == "playlist"  # only playlist names say "jazz"
    assert "chill" not in saved and "90s" not in saved  # the grammar's words keep their meaning
    # A model saved before the vocabulary existed derives the same one when it loads.
    old = tmp_path / "old"
    shutil.copytree(trained_model_dir, old)
    metadata = json.loads((old / "metadata.json").read_text())
    del metadata["vocabulary"]
    (old / "metadata.json").write_text(json.dumps(metadata))
    assert Recommender.load(old).vocabulary.terms == saved == recommender.vocabulary.terms


def test_a_catalog_without_labels_learns_its_words_from_playlist_names() -> None:
    """An MPD import has no genre labels: its words come from what people named playlists."""
    names = ["Country Roads", "country roads 2", "Old country roads", "my country", "Country!"]
    names += ["Throwback Jams", "throwback jams", "Throwback jams 2000s", "Gym", "Sleep"]
    playlists = pd.DataFrame(
        {
            "playlist_id": [str(i) for i in range(len(names))],
            "playlist_name": names,
            "playlist_genre": "",
            "playlist_subgenre": "",
        }
    )
    empty = pd.DataFrame()
    vocabulary = Vocabulary.learn(Catalog(empty, playlists, empty))
    assert vocabulary.terms == {
        "country": "playlist",
        "country roads": "playlist",
        "throwback jams": "playlist",
    }


def test_requests_and_follow_ups_share_one_vocabulary(recommender) -> None:
    terms = recommender.vocabulary.terms
    parsed = parse_refinements("no trap, chill, before 2000", terms)
    assert [(r.name, r.term) for r in parsed.refinements] == [
        ("not_genre", "trap"),
        ("calmer", None),
        ("years", None),
    ]
    # The longest phrase wins: "classic rock" is the genre, not "classic" (older) + rock.
    assert [r.term for r in parse_refinements("classic rock", terms).refinements] == [
        "classic rock"
    ]
    assert parse_refinements("neo-soul", terms).refinements[0].term == "neo soul"


# -- descriptions answered -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "column", "label"),
    [
        ("neo soul", "playlist_subgenre", "neo soul"),
        ("classic rock", "playlist_subgenre", "classic rock"),
        ("rap", "playlist_genre", "rap"),
    ],
)
async def test_a_genre_or_subgenre_answers_with_songs_carrying_that_label(
    services: Services, recommender, text: str, column: str, label: str
) -> None:
    reply = await services.handle("recommend", member(1), text)
    assert reply.title == f"Songs for “{text}”", render_text(reply)
    assert plain(reply.description).startswith(f"Understood: {label}")
    rows = picked(recommender, reply)
    assert len(rows) == 10
    assert labelled(recommender, column, label)[rows].all()
    assert len({recommender.index.artist_codes[r] for r in rows}) >= 8  # the artist spread


async def test_moods_eras_and_mixes_fit_their_words(services: Services, recommender) -> None:
    energy = recommender.index.features["energy"]
    danceability = recommender.index.features["danceability"]
    years = recommender.index.years
    chill = CRITIQUES["calmer"].level
    reply = await services.handle("recommend", member(2), "something chill from the 90s")
    rows = picked(recommender, reply)
    assert len(rows) == 10 and (energy[rows] < chill).all()
    assert ((years[rows] >= 1990) & (years[rows] <= 1999)).all()
    assert plain(reply.description).startswith(
        f"Understood: chill (energy below {chill:.2f}) · 1990–1999"
    ), reply.description

    reply = await services.handle("recommend", member(2), "chill 90s hip hop")
    rows = picked(recommender, reply)
    hip_hop = labelled(recommender, "playlist_subgenre", "hip hop") | labelled(
        recommender, "playlist_subgenre", "southern hip hop"
    )
    named = recommender.catalog.playlists["playlist_name"].str.casefold().str.contains("hip hop")
    in_named = recommender.catalog.memberships["playlist"].isin(np.flatnonzero(named))
    hip_hop[recommender.catalog.memberships.loc[in_named, "track"].to_numpy()] = True
    hip_hop |= labelled(recommender, "playlist_subgenre", "latin hip hop")
    assert len(rows) == 10
    assert (energy[rows] < chill).all() and hip_hop[rows].all()
    assert ((years[rows] >= 1990) & (years[rows] <= 1999)).all()

    reply = await services.handle("recommend", member(2), "songs to dance to")
    rows = picked(recommender, reply)
    assert len(rows) == 10 and (danceability[rows] > CRITIQUES["danceable"].level).all()

    # A song and an era: songs like it, from that decade only.
    reply = await services.handle("recommend", member(2), "songs like Juicy but from the 2010s")
    assert reply.title.startswith("Songs like Juicy"), reply.title
    rows = picked(recommender, reply)
    assert len(rows) == 10 and ((years[rows] >= 2010) & (years[rows] <= 2019)).all()


async def test_neo_soul_is_never_the_song_new_soul(services: Services) -> None:
    reply = await services.handle("recommend", member(3), "neo soul")
    assert "New Soul" not in reply.title and "couldn't find" not in reply.title


async def test_a_genre_that_is_also_a_title_answers_the_genre_and_offers_the_song(
    services: Services, recommender
) -> None:
    reply = await services.handle("recommend", member(3), "reggaeton")
    assert reply.title == "Songs for “reggaeton”"
    assert "Also the song Reggaeton — J Balvin" in plain(reply.description)
    assert labelled(recommender, "playlist_subgenre", "reggaeton")[picked(recommender, reply)].all()


# -- follow-ups on a description ----------------------------------------------------------
async def test_more_like_why_and_refine_work_on_a_description(
    services: Services, recommender
) -> None:
    neo_soul = labelled(recommender, "playlist_subgenre", "neo soul")
    energy = recommender.index.features["energy"]
    first = await services.handle("recommend", member(4), "neo soul")
    shown = picked(recommender, first)
    more = await services.handle("more", member(4))
    assert more.title == "More for neo soul", render_text(more)
    next_rows = picked(recommender, more)
    assert len(next_rows) == 10 and not set(next_rows) & set(shown)
    assert neo_soul[next_rows].all()

    why = await services.handle("why", member(4), "3")
    listed = matches(more)[2]
    assert why.description.endswith(f"Match {listed}%."), why.description
    assert "neo soul" in why.description

    refined = await services.handle("refine", member(4), "chill")
    rows = picked(recommender, refined)
    understood = "Understood: neo soul · chill (energy below 0.45)"
    assert plain(refined.description).startswith(understood), refined.description
    assert len(rows) == 10 and neo_soul[rows].all() and (energy[rows] < 0.45).all()

    third = recommender.track(recommender.index.track_ids[rows[2]])
    liked = await services.handle("like", member(4), "3")
    assert liked.title == f"Songs like {third.name} — {third.artist}"
    assert neo_soul[picked(recommender, liked)].all()  # the words carry over


# -- one readable score ------------------------------------------------------------------
async def test_each_pick_shows_one_bounded_match_in_list_order_and_why_repeats_it(
    services: Services,
) -> None:
    for text in ("bad guy - billie eilish", "bad guy but calmer", "neo soul"):
        reply = await services.handle("recommend", member(5), text)
        shown = matches(reply)
        assert len(shown) == 10, render_text(reply)
        assert all(0 <= m <= 100 for m in shown), shown
        assert shown == sorted(shown, reverse=True), (text, shown)
        for n in (1, 4, 5, 10):
            why = await services.handle("why", member(5), str(n))
            assert why.description.endswith(f"Match {shown[n - 1]}%."), (text, n)


# -- autocomplete ----------------------------------------------------------------------------
def test_autocomplete_offers_known_words_before_songs_within_25(services: Services) -> None:
    from bot.features.recommend.handlers import autocomplete_choices

    offered = autocomplete_choices(services, "ne", 25, words=True)
    assert offered[0] == ("neo soul (genre)", "neo soul")
    assert len(offered) <= 25 and any(value.startswith("spotify:track:") for _, value in offered)
    assert ("chill neo soul (genre)", "chill neo soul") in autocomplete_choices(
        services, "chill ne", 25, words=True
    )
    assert ("90s (era)", "90s") in autocomplete_choices(services, "9", 25, words=True)
    assert ("chill (mood)", "chill") in autocomplete_choices(services, "chi", 25, words=True)
    assert len(autocomplete_choices(services, "love", 25, words=True)) == 25
    # `/session add` takes a song (or an artist's best known): no words there.
    assert all(
        value.startswith(("spotify:track:", "artist: "))
        for _, value in autocomplete_choices(services, "ne")
    )
