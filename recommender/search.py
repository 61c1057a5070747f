"""Finding the song a person means from what they typed.

People type "hello adele", "Hello - Adele", "bad guy by billie eilish", "bad gyu", a
Spotify link, or just "hello" (a title five artists share). We try every reading of the
text, prefer exact titles (a version's title counts as its song's), then a matching
artist, then popularity, so the same text always resolves to the same track (the one
people mean) and we keep the other readings as alternatives. Whether text names an
artist rather than a song is `recommender.understanding`'s question.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from rapidfuzz import fuzz, process

MAX_QUERY_CHARS = 200
FUZZY_ACCEPT = 85.0  # a typo or two in a title; below this we only suggest
EXACT_TITLE = 100.0
# "Wonderwall" for "Wonderwall - Remastered": a version is the same song, so a bare title
# ranks it with the exact titles and popularity decides. People mean the famous
# "Wonderwall", not the little-known song that happens to carry the bare title. With the
# artist named, the version whose title was typed exactly goes first.
BASE_TITLE = EXACT_TITLE
BASE_TITLE_WITH_ARTIST = EXACT_TITLE - 0.5
ARTIST_ACCEPT = 80.0
# Among songs sharing a title, the one people mean is the famous one. Popularity alone
# favours this year's song: it counts recent plays, so a song still played decades after
# its release, and reissued, is better known than a new one as popular. Each year since
# release is worth `FAME_PER_YEAR` popularity points and each other version of the song in
# the catalog `FAME_PER_VERSION`: "roxanne" is The Police's (popularity 77, 1978), not a
# 2019 song at 99; "hello" stays Adele's, not an older, less played one. Measured by
# benchmarks/bench_understanding.py on two lists of famous songs.
FAME_PER_YEAR = 0.75
FAME_PER_VERSION = 5.0
# Above this many distinct titles, typo matching first narrows the catalog to the
# `FUZZY_CANDIDATES` titles sharing the most letter triples with the query: scoring every
# title costs ~5 ms at the real catalog's 28k tracks but ~200 ms at 400k.
FUZZY_BLOCK_MIN = 50_000
FUZZY_CANDIDATES = 500
# Titles starting with a typed title looked at for its versions ("... - Remastered").
VERSIONS_SCANNED = 200

_SPOTIFY = re.compile(
    r"^(?:https?://)?(?:open\.spotify\.com/(?:intl-[a-z-]+/)?track/|spotify:track:)?"
    r"([A-Za-z0-9]{22})(?:[/?#].*)?$"
)
_BRACKETS = re.compile(r"[(\[{].*?[)\]}]")
_DASH_SUFFIX = re.compile(r"\s[-–—]\s.*$")
_NON_WORD = re.compile(r"[^\w]+")
_SEPARATORS = re.compile(r"\s+[-–—]\s+|\s+by\s+", re.IGNORECASE)


def normalize(text: str) -> str:
    """Casefolded, accent-free words separated by single spaces."""
    text = str(text)
    if not text.isascii():  # ASCII has no accents to take off (most titles, all commands)
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    text = text.replace("&", " and ")
    return " ".join(_NON_WORD.sub(" ", text).replace("_", " ").split())


def base_title(name: str) -> str:
    """The title without version qualifiers: brackets and a ' - Remastered'-style tail."""
    stripped = _DASH_SUFFIX.sub("", _BRACKETS.sub(" ", str(name)))
    return normalize(stripped) or normalize(name)


# What a version of a recording is called, in brackets after its title: "(live)",
# "[slowed + reverb]", "(Remastered 2011)". Only these words, so a bracket naming someone
# ("hello (lionel richie)", "(feat. drake)") is never taken for a version.
VERSION_WORDS = frozenset(
    [
        "live",
        "acoustic",
        "unplugged",
        "remix",
        "remixed",
        "mix",
        "edit",
        "radio",
        "extended",
        "club",
        "original",
        "version",
        "remaster",
        "remastered",
        "mono",
        "stereo",
        "single",
        "album",
        "deluxe",
        "demo",
        "session",
        "sessions",
        "studio",
        "instrumental",
        "karaoke",
        "cover",
        "slowed",
        "reverb",
        "reverbed",
        "sped",
        "speed",
        "up",
        "nightcore",
        "8d",
        "bass",
        "boosted",
        "audio",
        "video",
        "official",
        "lyric",
        "lyrics",
        "hq",
        "hd",
        "clean",
        "explicit",
        "in",
        "concert",
        "and",
    ]
)
_TRAILING_BRACKET = re.compile(r"\s*[(\[]([^()\[\]]*)[)\]]\s*$")


def version_tail(text: str) -> int | None:
    """Where the trailing bracketed version words of `text` start ("bad guy (slowed)":
    at " (slowed)"), or None: no such tail, or nothing before it."""
    end = len(text)
    while (found := _TRAILING_BRACKET.search(text, 0, end)) is not None:
        words = normalize(found.group(1)).split()
        if not words or not all(w in VERSION_WORDS or w.isdigit() for w in words):
            break
        end = found.start()
    return end if 0 < end < len(text) and text[:end].strip() else None


def song_key(name: str, normalized_artist: str) -> str:
    """Other versions of a song (single, album cut, remaster) share this key."""
    return f"{base_title(name)}|{normalized_artist}"


def song_keys(names: Iterable[str], artists: Iterable[str]) -> list[str]:
    """One key per song for track names and artists as the catalog spells them."""
    return [song_key(n, normalize(a)) for n, a in zip(names, artists, strict=True)]


# A Spotify link that names no single song: an album, playlist, artist, podcast, or a
# local file. Its words ("spotify", "album") would otherwise match unrelated titles.
_NOT_A_SONG = re.compile(
    r"open\.spotify\.com/(?:intl-[a-z-]+/)?(album|playlist|artist|episode|show)/"
    r"|spotify:(album|playlist|artist|episode|show|local):",
    re.IGNORECASE,
)


def spotify_link_kind(text: str) -> str | None:
    """ "album", "playlist", "artist", "episode", "show" or "local" for a Spotify link that
    names no single song; None for anything else (a track link included)."""
    match = _NOT_A_SONG.search(text)
    return None if match is None else (match.group(1) or match.group(2)).lower()


def separated(text: str) -> list[str]:
    """The two sides of `title - artist` / `title by artist` (as typed), or the text alone."""
    return [part.strip() for part in _SEPARATORS.split(text, maxsplit=1)]


def separations(text: str) -> list[list[str]]:
    """Every way to cut the text at one " - " or " by " (as typed), first cut first:
    "MONTERO (Call Me By Your Name) - Lil Nas X" names its artist at the second."""
    return [
        [text[: m.start()].strip(), text[m.end() :].strip()] for m in _SEPARATORS.finditer(text)
    ]


def spotify_track_id(text: str) -> str | None:
    match = _SPOTIFY.match(text.strip())
    return match.group(1) if match else None


_TRACK_LINK = re.compile(
    r"(?:open\.spotify\.com/(?:intl-[a-z-]+/)?track/|spotify:track:)([A-Za-z0-9]{22})"
)


def track_link_in(text: str) -> str | None:
    """The first Spotify track link anywhere in a longer text (a chat message), as the URI
    `resolve` takes, or None."""
    match = _TRACK_LINK.search(text)
    return None if match is None else track_uri(match.group(1))


def track_uri(track_id: str) -> str:
    """A track's Spotify URI: what `resolve` maps back to exactly that track."""
    return f"spotify:track:{track_id}"


class TrigramBlocks:
    """Which strings share the most letter triples with a query (an inverted index).

    Built with numpy over all strings at once (about a second for 400k titles); a query
    reads the posting lists of its own triples, so its cost follows how common they are,
    not the catalog's size.
    """

    BUCKETS = 1 << 20
    POSTINGS_BUDGET = 60_000
    MIN_TRIPLES = 4

    def __init__(self, strings: Sequence[str]) -> None:
        count = len(strings)
        padded = [f" {s} " for s in strings]
        lengths = np.fromiter((len(p) for p in padded), dtype=np.int64, count=count)
        codes = np.frombuffer("\x01".join(padded).encode("utf-32-le"), dtype=np.uint32)
        codes = codes.astype(np.int64)
        owner = np.repeat(np.arange(count, dtype=np.int64), lengths + 1)[: len(codes)]
        valid = (
            (owner[:-2] == owner[2:]) & (codes[:-2] != 1) & (codes[1:-1] != 1) & (codes[2:] != 1)
        )
        hashes = self._hash(codes[:-2], codes[1:-1], codes[2:])[valid]
        # A bucket sort (np.unique is many times slower on millions of keys); a triple
        # that occurs twice in one string simply counts twice.
        order = np.argsort(hashes, kind="stable")
        self.members = owner[:-2][valid][order].astype(np.int32)
        self.starts = np.concatenate(
            [[0], np.cumsum(np.bincount(hashes, minlength=self.BUCKETS))]
        ).astype(np.int64)
        self.sizes = np.maximum(lengths - 2, 1).astype(np.float32)  # triples per string
        self.strings = np.array(strings, dtype=object)  # gathered in C, not a Python loop
        self.count = count

    @classmethod
    def _hash(cls, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        return ((a * 1_000_003 + b) * 1_000_003 + c) % cls.BUCKETS

    def candidates(self, query: str, limit: int) -> np.ndarray:
        """Up to `limit` string positions, most shared triples (relative to length) first."""
        codes = np.frombuffer(f" {query} ".encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        if len(codes) < 3:
            return np.zeros(0, dtype=np.int64)
        hashes = np.unique(self._hash(codes[:-2], codes[1:-1], codes[2:]))
        # The rarest triples say the most (like rare words); the commonest ones ("the",
        # " a ") would cost the most to read and tell little. Read the rare ones up to a
        # budget of postings, and always at least a few.
        sizes = self.starts[hashes + 1] - self.starts[hashes]
        order = np.argsort(sizes, kind="stable")
        within = np.cumsum(sizes[order]) <= self.POSTINGS_BUDGET
        within[: self.MIN_TRIPLES] = True
        postings = [
            self.members[self.starts[h] : self.starts[h + 1]]
            for h in hashes[order[within]].tolist()
        ]
        if not postings:
            return np.zeros(0, dtype=np.int64)
        shared = np.bincount(np.concatenate(postings), minlength=self.count)
        found = np.flatnonzero(shared)
        dice = 2 * shared[found] / (int(within.sum()) + self.sizes[found])
        if len(found) > limit:
            best = np.argpartition(-dice, limit - 1)[:limit]
            found, dice = found[best], dice[best]
        return found[np.argsort(-dice, kind="stable")]


@dataclass
class Match:
    """Row numbers with scores (0..100+), before they become user-facing results."""

    best: int | None = None
    best_score: float = 0.0
    alternatives: list[tuple[int, float]] = field(default_factory=list)
    suggestions: list[tuple[int, float]] = field(default_factory=list)
    not_a_song: str | None = None  # the kind of Spotify link that names no song


class TitleIndex:
    """Lookups from typed text to catalog rows.

    Built by `CatalogIndex` from its normalised titles, artists and song keys, so the
    catalog's text is read once per model.
    """

    def __init__(
        self,
        row_of: Mapping[str, int],
        titles: Sequence[str],
        artists: Sequence[str],
        keys: Sequence[str],
        popularity: np.ndarray,
        years: np.ndarray | None = None,
    ) -> None:
        """`years`: release years (0 where unknown); without them fame is popularity."""
        self.row_of = row_of  # track_id -> row
        self.titles = titles
        self.artists = artists
        self.keys = keys
        self.popularity = popularity
        self.years = years
        self.by_popularity = np.argsort(-popularity, kind="stable")
        self._blocks: dict[str, TrigramBlocks] = {}

    # Lookup tables, built on first use or by `warm_up`: at 400k tracks they take seconds,
    # which a model being loaded (and swapped in) should not wait for.
    @cached_property
    def _by_title_and_base(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        by_title: dict[str, list[int]] = {}
        by_base: dict[str, list[int]] = {}
        for row, (title, key) in enumerate(zip(self.titles, self.keys, strict=True)):
            by_title.setdefault(title, []).append(row)
            by_base.setdefault(key.split("|", 1)[0], []).append(row)
        return by_title, by_base

    @cached_property
    def fame(self) -> np.ndarray:
        """Per row: how famous its song is (the best of its versions), for choosing among
        songs that share a title; see `FAME_PER_YEAR`."""
        fame = self.popularity.astype(np.float64)
        if self.years is not None and len(fame):
            years = np.asarray(self.years, dtype=np.int64)
            newest = int(years.max())
            known = years > 0  # an unknown year earns nothing
            fame = fame + np.where(known, FAME_PER_YEAR * np.maximum(newest - years, 0), 0.0)
        codes, inverse, versions = np.unique(
            np.asarray(self.keys, dtype=object), return_inverse=True, return_counts=True
        )
        best = np.full(len(codes), -np.inf)
        np.maximum.at(best, inverse, fame)
        return best[inverse] + FAME_PER_VERSION * (versions[inverse] - 1)

    @property
    def by_title(self) -> dict[str, list[int]]:
        return self._by_title_and_base[0]

    @property
    def by_base(self) -> dict[str, list[int]]:
        return self._by_title_and_base[1]

    @cached_property
    def unique_titles(self) -> list[str]:
        return list(self.by_title)

    @cached_property
    def labels(self) -> list[str]:
        return [f"{t} {a}" for t, a in zip(self.titles, self.artists, strict=True)]

    @cached_property
    def sorted_titles(self) -> list[tuple[str, int]]:
        return sorted((t, r) for r, t in enumerate(self.titles))

    @cached_property
    def _sorted_keys(self) -> list[str]:
        return [t for t, _ in self.sorted_titles]

    # -- resolve ------------------------------------------------------------------------
    def resolve(self, text: str, *, fuzzy: bool = True) -> Match:
        """The rows `text` names; `fuzzy` False skips the typo search (the caller knows
        the text names something else, an artist, when no title matches exactly)."""
        text = str(text).strip()[:MAX_QUERY_CHARS]
        track_id = spotify_track_id(text)
        if track_id is not None and "spotify" in text.lower():
            # A link names one track: if it isn't in the catalog, titles that merely look
            # like the link's letters are no help.
            return Match(best=self.row_of.get(track_id), best_score=100.0)
        if track_id is not None and track_id in self.row_of:
            return Match(best=self.row_of[track_id], best_score=100.0)
        if (kind := spotify_link_kind(text)) is not None:
            return Match(not_a_song=kind)  # no suggestions: no title is what it means
        query = normalize(text)
        if not query:
            return Match()
        scores = self._exact_readings(text, query)
        if not scores and not fuzzy:
            return Match()
        if not scores:
            close = self._fuzzy(query, limit=10)
            if close and close[0][1] >= FUZZY_ACCEPT:
                scores = dict(close)
            else:
                return Match(suggestions=self._distinct(close, limit=3))
        ranked = self._rank(scores)
        best_row, best_score = ranked[0]
        alternatives = [
            (row, score)
            for row, score in self._distinct(ranked, limit=6)
            if row != best_row and score >= best_score - 15
        ][:5]
        return Match(best=best_row, best_score=best_score, alternatives=alternatives)

    def _exact_readings(self, text: str, query: str) -> dict[int, float]:
        """Scores for every reading with an exact (or base) title."""
        scores: dict[int, float] = {}
        whole_title = False  # the whole text is a title as typed
        for title, artist, needs_artist, guessed in self._readings(text, query):
            if guessed and whole_title:
                # "in the end" is Linkin Park's title, not "The End" by In Flames; "Lady
                # Karma" is that title, not "Karma" by Lady: a split of the words is a
                # guess, the whole text matching a title is not.
                continue
            for rows, title_score in (
                (self.by_title.get(title), EXACT_TITLE),
                (self.by_base.get(title), BASE_TITLE),
                (self._versions_of(query) if artist is None else None, BASE_TITLE),
            ):
                if rows and artist is None:
                    whole_title = True
                for row in rows or ():
                    score = title_score
                    if artist and title_score == BASE_TITLE and self.titles[row] != title:
                        score = BASE_TITLE_WITH_ARTIST
                    if artist:
                        exactness = fuzz.ratio(artist, self.artists[row])
                        similarity = max(exactness, fuzz.token_set_ratio(artist, self.artists[row]))
                        if similarity >= ARTIST_ACCEPT:  # the artist confirms this reading
                            # The closer the rest is to the artist alone, the more of the
                            # text the title explains: "With Or Without You - Kage Remix -
                            # Maddix" is the remix, though "Kage Remix - Maddix" names Maddix.
                            score += 10 + similarity / 10 + exactness / 1000
                        elif needs_artist:  # "bad gyu" is not the title "bad" by "gyu"
                            continue
                        else:  # "Hello - Adel3": right title, artist not recognised
                            score -= 20
                    if score > scores.get(row, -1.0):
                        scores[row] = score
        return scores

    def _versions_of(self, query: str) -> list[int]:
        """Rows whose title is the typed one plus a version's tail, for songs with no row
        of that exact title: "Sweet Dreams (Are Made of This)", brackets typed or not, is
        also Eurythmics' "Sweet Dreams (Are Made of This) - Remastered"; but "Slow Dance
        (feat. Ava Max)" is that original, not its more played remix."""
        exact = {self.keys[row] for row in self.by_title.get(query, ())}
        start = bisect.bisect_left(self._sorted_keys, query + " ")
        found: list[int] = []
        for title, row in self.sorted_titles[start : start + VERSIONS_SCANNED]:
            if not title.startswith(query + " "):
                break
            base = self.keys[row].split("|", 1)[0]
            # Only a tail after the song's own title: "hello world" is not a "hello".
            if (query == base or query.startswith(base + " ")) and self.keys[row] not in exact:
                found.append(row)
        return found

    @staticmethod
    def _readings(text: str, query: str) -> list[tuple[str, str | None, bool, bool]]:
        """(title, artist, artist must match, a guessed split) readings of the text.

        The whole text as a title; 'title - artist' / 'title by artist' either way round;
        and every split of the words ("hello adele"), which only counts if the artist
        part really names the track's artist.
        """
        readings: list[tuple[str, str | None, bool, bool]] = [(query, None, False, False)]
        parts = [normalize(p) for p in _SEPARATORS.split(text, maxsplit=1)]
        if len(parts) == 2 and all(parts):
            readings += [(parts[0], parts[1], False, False), (parts[1], parts[0], True, False)]
        words = query.split()
        for cut in range(1, min(len(words), 12)):
            head, tail = " ".join(words[:cut]), " ".join(words[cut:])
            readings += [(head, tail, True, True), (tail, head, True, True)]
        return readings

    def _fuzzy(self, query: str, limit: int) -> list[tuple[int, float]]:
        """Typo-tolerant matches against bare titles and 'title artist' labels.

        QRatio keeps this at a few milliseconds over the whole catalog (WRatio is ~20x slower);
        past `FUZZY_BLOCK_MIN` titles only the likeliest `FUZZY_CANDIDATES` are scored.
        """
        found: dict[int, float] = {}
        for _, score, position in self._extract(query, self.unique_titles, "title", limit):
            for row in self.by_title[self.unique_titles[position]]:
                found[row] = max(found.get(row, -1.0), float(score))
        for _, score, row in self._extract(query, self.labels, "label", limit):
            found[row] = max(found.get(row, -1.0), float(score))
        return self._rank(found)

    def _extract(
        self, query: str, choices: Sequence[str], kind: str, limit: int
    ) -> list[tuple[str, float, int]]:
        """rapidfuzz's extract over all `choices`, or over the blocked few of a big catalog."""
        if len(choices) < FUZZY_BLOCK_MIN:
            return process.extract(query, choices, scorer=fuzz.QRatio, limit=limit, processor=None)
        positions = self.blocks(kind).candidates(query, FUZZY_CANDIDATES)
        subset = self.blocks(kind).strings[positions].tolist()
        return [
            (text, score, int(positions[i]))
            for text, score, i in process.extract(
                query, subset, scorer=fuzz.QRatio, limit=limit, processor=None
            )
        ]

    def blocks(self, kind: str) -> TrigramBlocks:
        """The triple index of titles or labels, built on first use (or by `warm_up`)."""
        if kind not in self._blocks:
            self._blocks[kind] = TrigramBlocks(
                self.unique_titles if kind == "title" else self.labels
            )
        return self._blocks[kind]

    def warm_up(self) -> None:
        """Build every lookup table now (the bot does this in a thread after a load)."""
        for part in ("_by_title_and_base", "unique_titles", "labels", "_sorted_keys", "fame"):
            getattr(self, part)
        for choices, kind in ((self.unique_titles, "title"), (self.labels, "label")):
            if len(choices) >= FUZZY_BLOCK_MIN:
                self.blocks(kind)

    def _rank(self, scores: dict[int, float]) -> list[tuple[int, float]]:
        """Best reading first; among equals the famous song, then its most played version."""
        fame, popularity = self.fame, self.popularity
        return sorted(
            scores.items(),
            key=lambda item: (-item[1], -fame[item[0]], -popularity[item[0]], item[0]),
        )

    def _distinct(self, ranked: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
        """Keep one version per song, in rank order."""
        seen: set[str] = set()
        kept: list[tuple[int, float]] = []
        for row, score in ranked:
            if self.keys[row] not in seen:
                seen.add(self.keys[row])
                kept.append((row, score))
            if len(kept) == limit:
                break
        return kept

    # -- autocomplete ---------------------------------------------------------------------
    def complete(self, text: str, limit: int = 25) -> list[tuple[int, float]]:
        """Titles starting with what was typed (most popular first), then fuzzy matches."""
        query = normalize(str(text)[:MAX_QUERY_CHARS])
        if not query:
            return [(int(r), 0.0) for r in self.by_popularity[:limit]]
        start = bisect.bisect_left(self._sorted_keys, query)
        prefixed: list[int] = []
        for title, row in self.sorted_titles[start:]:
            if not title.startswith(query) or len(prefixed) >= 2000:
                break
            prefixed.append(row)
        prefixed.sort(key=lambda r: (-self.popularity[r], r))
        ranked = [(r, 100.0) for r in prefixed]
        if len(ranked) < limit:
            ranked += [item for item in self._fuzzy(query, limit) if item[0] not in set(prefixed)]
        return self._distinct(ranked, limit)
