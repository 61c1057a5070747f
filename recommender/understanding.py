"""Reading a request: a song, an artist, or a song the catalog lacks.

One reading for every way of asking (`!recommend`, `/recommend`, the console, a
session's `add`, the message menu, `Recommender.understand`):

* a bare title means the song people mean: among the titles that match, versions
  included ("Wonderwall - Remastered" is "Wonderwall"), the most famous: popularity,
  with credit for the years a song has stayed played (`TitleIndex.resolve`,
  `search.FAME_PER_YEAR`); the other readings are alternatives;
* a version in brackets that the catalog lacks ("bad guy (slowed)") is the song itself;
* an artist's name, typos and a missing "the" forgiven, means songs like that artist;
  when it is also a title ("queen"), the better known of the two wins and the other is
  offered;
* `title - artist`, `title by artist`, `title artist:name` name a song by an artist.
  When the catalog lacks that song, it is never passed off as another artist's song of
  the same title: if the artist is here, the answer is songs like them
  (`Reading.MISSING_SONG`); if not, close songs come back as suggestions only.

Looking a missing song up elsewhere would slot in where `MISSING_SONG` and `NOT_FOUND`
are decided, before the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from rapidfuzz import fuzz, process

from recommender.artists import ARTIST_FUZZY_ACCEPT
from recommender.catalog_index import CatalogIndex
from recommender.results import ArtistResult, Reading, Resolution, TrackResult, Understanding
from recommender.search import (
    ARTIST_ACCEPT,
    EXACT_TITLE,
    FUZZY_ACCEPT,
    MAX_QUERY_CHARS,
    Match,
    base_title,
    normalize,
    separated,
    separations,
    spotify_link_kind,
    spotify_track_id,
    version_tail,
)

# "artist: Dua Lipa" (what the slash command's artist option sends), "bad guy artist: billie".
_ARTIST_MARK = re.compile(r"(?:^|\s)artist:\s*", re.IGNORECASE)
_DASH = re.compile(r"\s+[-–—]\s+")
# Below this an artist is only offered as "did you mean".
ARTIST_SUGGEST = 70.0

Result = Callable[[int, float], TrackResult]


def artist_result(
    index: CatalogIndex, code: int, result: Result, score: float = 0.0
) -> ArtistResult:
    artists = index.by_artist
    return ArtistResult(
        name=artists.name[code],
        tracks=artists.size(code),
        popularity=int(artists.popularity[code]),
        top_track=result(int(artists.top_row[code]), 0.0),
        score=round(float(score), 4),
    )


def _resolution(text: str, match: Match, result: Result) -> Resolution:
    return Resolution(
        query=text,
        best=None if match.best is None else result(match.best, match.best_score),
        alternatives=[result(i, s) for i, s in match.alternatives],
        suggestions=[result(i, s) for i, s in match.suggestions],
        not_a_song=match.not_a_song,
    )


def _whole_title(index: CatalogIndex, row: int, query: str) -> bool:
    """Does the whole text name this row's title (or the title without its version)?"""
    return index.titles[row] == query or base_title(index.names[row]) == query


def _same_artist(index: CatalogIndex, row: int, typed: str) -> bool:
    artist = index.artists[row]
    return max(fuzz.ratio(typed, artist), fuzz.token_set_ratio(typed, artist)) >= ARTIST_ACCEPT


def names_exactly(index: CatalogIndex, text: str) -> bool:
    """Whether `text` names a catalog song or artist as the catalog spells it: dictionary
    look-ups only, no typo search. Reading such a request costs a fraction of a
    millisecond; the others may search every title."""
    text = str(text).strip()[:MAX_QUERY_CHARS]
    query = normalize(text)
    if query and index.by_artist.exact(query) is not None:
        return True
    return index.search.resolve(text, fuzzy=False).best is not None


def understand(index: CatalogIndex, text: str, result: Result) -> Understanding:
    """What `text` asks for (see the module's docstring)."""
    text = str(text).strip()[:MAX_QUERY_CHARS]
    tail = version_tail(text)
    if tail is not None and index.search.resolve(text, fuzzy=False).best_score < EXACT_TITLE:
        # A version the catalog lacks ("bad guy (slowed)", "helo (live)") is read as the
        # text before it, not "hello" by the band Live nor nothing at all; a version it
        # has ("Wonderwall - Remastered") is found as typed.
        return replace(_understand(index, text[:tail], result), query=text)
    return _understand(index, text, result)


def _understand(index: CatalogIndex, text: str, result: Result) -> Understanding:
    text = text.strip()
    artists = index.by_artist

    def as_artist(code: int, score: float) -> ArtistResult:
        return artist_result(index, code, result, score)

    marked = _ARTIST_MARK.search(text)
    if marked is not None:
        title, named = text[: marked.start()].strip(), text[marked.end() :].strip()
        if title and named:
            text = f"{title} - {named}"
        elif named:
            hits = artists.find(named)
            empty = Resolution(query=text, best=None)
            if hits and hits[0][1] >= ARTIST_FUZZY_ACCEPT:
                code, score = hits[0]
                # Picked from the list (or typed as "artist:"): the artist, however spelled.
                return Understanding(
                    text, Reading.ARTIST, empty, artist=as_artist(code, score), score=EXACT_TITLE
                )
            suggested = [as_artist(c, s) for c, s in hits[:3] if s >= ARTIST_SUGGEST]
            return Understanding(text, Reading.NOT_FOUND, empty, title=named, artists=suggested)

    query = normalize(text)
    # Where "title - artist" is cut: at the first " - " or " by " with an artist's exact
    # name on one side ("MONTERO (Call Me By Your Name) - Lil Nas X"), else at the last
    # " - " ("Stand By Me - Ben E. King"), else at " by ".
    cuts = separations(text)
    raw = (
        next(
            (c for c in cuts if any(artists.exact(normalize(side)) is not None for side in c)),
            None,
        )
        or _last_dash(text)
        or separated(text)
    )
    parts = [normalize(p) for p in raw]
    # An artist's exact name needs no typo search among all titles: only an exact title
    # could compete with it ("queen"), and in "title - artist" a typo in the title is
    # looked for among that artist's songs alone (`_typo_by`).
    named_artist = artists.exact(query) if query else None
    side = None
    if len(parts) == 2 and all(parts):
        side = next(
            (
                (order, exact)
                for order, p in enumerate(parts[::-1])
                if (exact := artists.exact(p)) is not None
            ),
            None,
        )
    match = index.search.resolve(text, fuzzy=named_artist is None and side is None)
    if side is not None and match.best is None and match.not_a_song is None:
        order, code = side
        typo = _typo_by(index, code, parts[order])
        if typo is not None:
            match = Match(best=typo[0], best_score=typo[1])
    resolution = _resolution(text, match, result)
    best = match.best
    song = resolution.best

    def as_song(**extra: object) -> Understanding:
        assert song is not None
        return Understanding(
            text,
            Reading.SONG,
            resolution,
            song=song,
            songs=resolution.alternatives,
            score=match.best_score,
            **extra,  # type: ignore[arg-type]
        )

    if match.not_a_song is not None or spotify_track_id(text) is not None or not query:
        return as_song() if song is not None else Understanding(text, Reading.NOT_FOUND, resolution)
    if spotify_link_kind(text) is not None:
        return Understanding(text, Reading.NOT_FOUND, resolution)

    whole_title = best is not None and _whole_title(index, best, query)
    confirmed = best is not None and match.best_score > EXACT_TITLE  # title and its artist

    if len(parts) == 2 and all(parts) and not whole_title:
        # "title - artist" (or "artist - title"): a song by someone in particular.
        if best is not None and (confirmed or any(_same_artist(index, best, p) for p in parts)):
            return as_song()
        named_artists: list[tuple[float, int, str, int]] = []
        for fuzzy in (False, True):  # the exact name either way round first, then typos
            # A typo'd artist only where the artist goes ("title - artist"): a short title
            # word is too easily taken for an artist ("Stand" for Staind).
            for order, artist_part in enumerate((parts[1],) if fuzzy else (parts[1], parts[0])):
                hits = artists.find(artist_part, limit=1, fuzzy=fuzzy)
                if hits and hits[0][1] >= ARTIST_FUZZY_ACCEPT:
                    named_artists.append((hits[0][1], -order, artist_part, hits[0][0]))
            if named_artists:
                break
        if named_artists:
            score, order, _, code = max(named_artists)
            title = raw[0] if order == 0 else raw[1]
            return Understanding(
                text,
                Reading.MISSING_SONG,
                resolution,
                artist=as_artist(code, score),
                title=title,
                score=score,
            )
        # What is close to the title part alone: songs of that title, as suggestions.
        by_title = _resolution(raw[0], index.search.resolve(raw[0]), result)
        close = [by_title.best, *by_title.alternatives, *by_title.suggestions]
        close += [song, *resolution.alternatives, *resolution.suggestions]
        unique = list({s.track_id: s for s in close if s is not None}.values())
        return Understanding(
            text, Reading.NOT_FOUND, resolution, title=raw[0], suggestions=unique[:3]
        )

    if named_artist is not None:
        hits = [(named_artist, EXACT_TITLE)]
    elif whole_title or confirmed:
        hits = []  # a title (and its artist): other artists are no more than alternatives
    else:
        hits = artists.find(query, limit=3)
    code, artist_score = hits[0] if hits else (-1, 0.0)
    if artist_score >= EXACT_TITLE:  # the text is an artist's name
        if whole_title and song is not None and song.popularity >= artists.popularity[code]:
            return as_song(artists=[as_artist(code, artist_score)])
        others = [song, *resolution.alternatives] if (whole_title or confirmed) and song else []
        return Understanding(
            text,
            Reading.ARTIST,
            resolution,
            artist=as_artist(code, artist_score),
            songs=[s for s in others if s is not None][:5],
            score=artist_score,
        )
    likely = [as_artist(c, s) for c, s in hits if s >= ARTIST_FUZZY_ACCEPT]
    if whole_title or confirmed:
        return as_song(artists=likely)
    missing = _title_and_artist(index, query)
    if missing is not None:
        title, named_code = missing
        # Missing unless a typo search found another song (a title that merely holds an
        # artist's name, "love me hardr"), or found the title by someone else.
        other = best is not None and index.artist_codes[best] != named_code
        if best is None or (other and _whole_title(index, best, title)):
            return Understanding(
                text,
                Reading.MISSING_SONG,
                resolution,
                artist=as_artist(named_code, EXACT_TITLE),
                title=title,
                score=EXACT_TITLE,
            )
    if artist_score >= ARTIST_FUZZY_ACCEPT and (best is None or artist_score >= match.best_score):
        return Understanding(
            text,
            Reading.ARTIST,
            resolution,
            artist=likely[0],
            artists=likely[1:],
            songs=[s for s in [song] if s is not None],
            score=artist_score,
        )
    if song is not None:
        return as_song(artists=likely)
    suggested = [as_artist(c, s) for c, s in hits if s >= ARTIST_SUGGEST]
    return Understanding(
        text, Reading.NOT_FOUND, resolution, suggestions=resolution.suggestions, artists=suggested
    )


def _last_dash(text: str) -> list[str] | None:
    """The text cut at its last " - " (an artist goes last), or None without one."""
    found = list(_DASH.finditer(text))
    if not found:
        return None
    last = found[-1]
    return [text[: last.start()].strip(), text[last.end() :].strip()]


def _typo_by(index: CatalogIndex, code: int, title: str) -> tuple[int, float] | None:
    """The artist's song whose title is `title` but for a typo or two ("bad gyu")."""
    rows = index.by_artist.rows(code)
    hit = process.extractOne(
        title, [index.titles[r] for r in rows.tolist()], scorer=fuzz.QRatio, processor=None
    )
    if hit is None or hit[1] < FUZZY_ACCEPT:
        return None
    return int(rows[hit[2]]), float(hit[1])


def _title_and_artist(index: CatalogIndex, query: str) -> tuple[str, int] | None:
    """("levitating", Dua Lipa) for "levitating dua lipa": words then an artist's exact
    name (or the name first), when no title in the catalog explains them."""
    words = query.split()
    for cut in range(1, len(words)):
        head, tail = " ".join(words[:cut]), " ".join(words[cut:])
        for title, name in ((head, tail), (tail, head)):
            code = index.by_artist.code_of.get(name)
            if code is not None and len(name) >= 3:
                return title, code
    return None


__all__ = ["artist_result", "understand"]
