"""Why a song was recommended, in people's words (`!why 3`).

The model's reason is a cosine between embeddings, which means nothing to a person. What
does mean something: the playlists the two songs share (the graph the model learned
from), the same artist or album, and the two or three audio features where they are
closest or differ most ("same artist; both around 100 BPM; a little more acoustic").
"""

from __future__ import annotations

from collections.abc import Callable

from recommender.data import features_known
from recommender.recommender import Recommender

# Said instead of a sound comparison when a catalog (the Million Playlist Dataset, say)
# has no audio features for one of the songs.
NO_AUDIO = "this catalog has no audio features for these songs, so their sound isn't compared"

# Feature -> (words when the pick is higher, words when lower). Tempo reads in BPM.
_DIRECTION_WORDS: dict[str, tuple[str, str]] = {
    "tempo": ("faster", "slower"),
    "energy": ("more energetic", "calmer"),
    "danceability": ("more danceable", "less danceable"),
    "valence": ("happier-sounding", "sadder-sounding"),
    "acousticness": ("more acoustic", "less acoustic"),
    "speechiness": ("talkier", "less talky"),
    "instrumentalness": ("more instrumental", "more vocal"),
}
_KEYS = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
# Gaps are in the features' own 0..1 units (tempo: per 100 BPM), which read like people
# hear them; standardising would make a small speechiness gap look "much" bigger.
CLOSE = 0.06  # "both around ..."
DIFFERENT = 0.15  # from here on a difference is worth naming
_UNIT = {"tempo": 100.0}


def _plain(text: str) -> str:
    return text


def _quoted(names: list[str], escape: Callable[[str], str] = _plain) -> str:
    return ", ".join(f"“{escape(n)}”" for n in names)


def connections(
    rec: Recommender, query_id: str, pick_id: str, escape: Callable[[str], str] = _plain
) -> list[str]:
    """What links the two songs in the catalog: artist, album, playlists.

    `escape` is applied to every catalog text (the bot passes its markdown escaping).
    """
    index = rec.index
    graph = index.playlists
    q, p = rec.row(query_id), rec.row(pick_id)
    found: list[str] = []
    same_artist = index.artist_codes[q] == index.artist_codes[p]
    if same_artist:
        found.append(f"same artist ({escape(index.artist_names[p])})")
    if index.album_codes[q] == index.album_codes[p]:
        found.append(f"same album (*{escape(index.album_names[p])}*)")
    shared = sorted(graph.playlists_of[q] & graph.playlists_of[p])
    if shared:
        names = list(dict.fromkeys(graph.names[i] for i in shared))
        if len(shared) == 1:
            found.append(f"both on the playlist {_quoted(names[:1], escape)}")
        else:
            found.append(f"they share {len(shared)} playlists ({_quoted(names[:3], escape)})")
        return found
    neighbours_q = set().union(*(graph.tracks_of[i] for i in graph.playlists_of[q])) - {q, p}
    neighbours_p = set().union(*(graph.tracks_of[i] for i in graph.playlists_of[p])) - {q, p}
    common = neighbours_q & neighbours_p
    if common:
        found.append(
            f"no playlist has both, but {len(common)} other song"
            f"{'s' if len(common) != 1 else ''} sit in playlists with each of them"
        )
    elif not same_artist:
        by_q = graph.playlists_of_artist.get(int(index.artist_codes[q]), set())
        by_p = graph.playlists_of_artist.get(int(index.artist_codes[p]), set())
        if by_q & by_p:
            artist_q, artist_p = index.artist_names[q], index.artist_names[p]
            found.append(
                f"{escape(artist_q)} and {escape(artist_p)} share {len(by_q & by_p)} playlists"
            )
    if not found:
        genres_q = {graph.genres[i] for i in graph.playlists_of[q]}
        genres_p = {graph.genres[i] for i in graph.playlists_of[p]}
        both = sorted(genres_q & genres_p)
        if both:
            found.append(f"both turn up in {' and '.join(both[:2])} playlists")
        else:
            found.append("the model links them through the playlists around them")
    return found


def _level(feature: str, value: float) -> str:
    """A word for a shared level of a feature ("both high-energy")."""
    if feature == "tempo":
        return f"both around {value:.0f} BPM"
    if feature == "energy":
        return (
            "both calm" if value < 0.4 else "both mid-energy" if value < 0.7 else "both high-energy"
        )
    if feature == "danceability":
        return (
            "both very danceable"
            if value >= 0.7
            else "both fairly danceable"
            if value >= 0.5
            else "neither is much of a dance track"
        )
    if feature == "valence":
        return (
            "both bright and happy-sounding"
            if value >= 0.65
            else "both bittersweet in mood"
            if value >= 0.35
            else "both dark in mood"
        )
    if feature == "acousticness":
        return (
            "both acoustic"
            if value >= 0.6
            else "both part-acoustic"
            if value >= 0.2
            else "both produced/electronic rather than acoustic"
        )
    if feature == "speechiness":
        return "both rap-heavy" if value >= 0.33 else "both sung more than spoken"
    return "both instrumental" if value >= 0.5 else "both with vocals"


def audio_comparison(rec: Recommender, query_id: str, pick_id: str) -> list[str]:
    """The two features where the songs are closest, and the one where they differ most."""
    rows = rec.track_table([query_id, pick_id])
    if not features_known(rows).all():
        return [NO_AUDIO]
    q, p = rows.iloc[0], rows.iloc[1]
    gaps = {
        name: (float(p[name]) - float(q[name])) / _UNIT.get(name, 1.0) for name in _DIRECTION_WORDS
    }
    phrases: list[str] = []
    if int(q["key"]) == int(p["key"]) >= 0 and int(q["mode"]) == int(p["mode"]):
        phrases.append(f"both in {_KEYS[int(q['key']) % 12]} {'major' if p['mode'] else 'minor'}")
    # speechiness/instrumentalness are near zero for most songs, so "both with vocals"
    # says little; they only count as a closeness when the songs are unusual on them.
    informative = [
        n
        for n in _DIRECTION_WORDS
        if n not in {"speechiness", "instrumentalness"} or max(q[n], p[n]) >= 0.33
    ]
    close = sorted((n for n in informative if abs(gaps[n]) <= CLOSE), key=lambda n: abs(gaps[n]))
    differences = sorted(
        (n for n in _DIRECTION_WORDS if abs(gaps[n]) >= DIFFERENT), key=lambda n: -abs(gaps[n])
    )
    # Two closenesses (three when nothing differs), then differences up to three phrases.
    room = (2 if differences else 3) - len(phrases)
    for name in close[:room]:
        phrases.append(_level(name, (float(q[name]) + float(p[name])) / 2))
    for name in differences[: max(1, 3 - len(phrases))]:
        gap = gaps[name]
        amount = "a little " if abs(gap) < 0.25 else "" if abs(gap) < 0.45 else "much "
        words = _DIRECTION_WORDS[name][0 if gap > 0 else 1]
        detail = (
            f" ({float(p['tempo']):.0f} vs {float(q['tempo']):.0f} BPM)" if name == "tempo" else ""
        )
        phrases.append(f"{amount}{words}{detail}")
    if not phrases:
        phrases.append("close on most audio features")
    return phrases


def match_text(match: float) -> str:
    """A pick's match as a member reads it, in the list and in `!why` alike: "Match 87%"."""
    return f"Match {match:.0%}"


def explain(
    rec: Recommender,
    query_id: str,
    pick_id: str,
    escape: Callable[[str], str] = _plain,
    match: float | None = None,
) -> str:
    """One paragraph: why `pick_id` was recommended for `query_id`.

    Song names are in *italics*; `escape` is applied to every catalog text in it.
    `match`: the pick's match as its list showed it, said instead of the model's
    similarity so a member reads one number for one pick.
    """
    query, pick = rec.track(query_id), rec.track(pick_id)
    # The embeddings' own cosine, not the ranking score: that adds popularity and, on a
    # model with a playlist walk, up to its weight (a "similarity 3.86" means nothing to a
    # member); shared playlists are named among the connections instead.
    vectors = rec.embeddings[[rec.row(query_id), rec.row(pick_id)]]
    similarity = float(vectors[0] @ vectors[1])
    parts = [
        *connections(rec, query_id, pick_id, escape),
        *audio_comparison(rec, query_id, pick_id),
    ]
    number = f"Model similarity {similarity:.2f}" if match is None else match_text(match)
    return (
        f"*{escape(pick.name)}* by {escape(pick.artist)}, "
        f"for *{escape(query.name)}* by {escape(query.artist)}: "
        + "; ".join(parts)
        + f". {number}."
    )


__all__ = ["NO_AUDIO", "audio_comparison", "connections", "explain", "match_text"]
