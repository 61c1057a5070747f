"""`why <n>`: the explanation names real connections and real audio facts."""

from __future__ import annotations

import re

from recommender.explain import audio_comparison, connections, explain
from recommender.followups import start, why


def _ids(recommender, name: str, artist: str, album: str | None = None) -> str:
    tracks = recommender.catalog.tracks
    match = (tracks["track_name"] == name) & (tracks["track_artist"] == artist)
    if album is not None:
        match &= tracks["track_album_name"] == album
    return str(tracks.loc[match, "track_id"].iloc[0])


def test_same_artist_and_album_are_named(recommender) -> None:
    album = "WHEN WE ALL FALL ASLEEP, WHERE DO WE GO?"
    bad_guy = _ids(recommender, "bad guy", "Billie Eilish", album)
    xanny = _ids(recommender, "xanny", "Billie Eilish", album)
    text = explain(recommender, bad_guy, xanny)
    assert text.startswith("*xanny* by Billie Eilish, for *bad guy* by Billie Eilish: ")
    assert "same artist (Billie Eilish)" in text
    assert f"same album (*{album}*)" in text
    assert re.search(r"Model similarity \d\.\d\d\.$", text)


def test_shared_playlists_are_real_ones(recommender) -> None:
    """Every playlist the explanation names really holds both songs."""
    catalog = recommender.catalog
    members = catalog.memberships
    names = catalog.playlists["playlist_name"]
    checked = 0
    for query in (
        "Smells Like Teen Spirit - Nirvana",
        "Levels - Avicii",
        "bad guy - Billie Eilish",
    ):
        seed = recommender.resolve(query).best.track_id
        turn = start(recommender, [seed])
        for n, pick in enumerate(turn.answer.picks, 1):
            links = connections(recommender, seed, pick.track_id)
            quoted = re.findall(r"“(.+?)”", "; ".join(links))
            if not quoted:
                continue
            rows = {recommender.row(seed), recommender.row(pick.track_id)}
            for playlist_name in quoted:
                ids = set(names.index[names == playlist_name])
                holding = members[members["playlist"].isin(ids)]
                assert rows <= set(holding["track"]), (query, n, playlist_name)
                checked += 1
            assert why(recommender, turn.conversation, n).count("“") >= 1
    assert checked >= 3


def test_audio_comparison_uses_the_real_numbers(recommender) -> None:
    album = "WHEN WE ALL FALL ASLEEP, WHERE DO WE GO?"
    bad_guy = _ids(recommender, "bad guy", "Billie Eilish", album)  # 135 BPM
    i_love_you = _ids(recommender, "i love you", "Billie Eilish", album)  # 137 BPM
    goodbye = _ids(recommender, "goodbye", "Billie Eilish", album)  # 74 BPM
    assert "both around 136 BPM" in audio_comparison(recommender, bad_guy, i_love_you)
    # goodbye is a slow, sparse ballad: nothing is close, the widest gaps are named.
    assert audio_comparison(recommender, bad_guy, goodbye) == [
        "much slower (74 vs 135 BPM)",
        "much less danceable",
        "much sadder-sounding",
    ]
