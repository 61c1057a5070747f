"""Conversational refinement: steer the last answer ("calmer", "no remixes", "90s", "more").

People rarely get what they want from the first list; in a chat they say "calmer", "no
remixes please", "more like the third one". This module turns those words into
refinements and applies them to a larger candidate pool around the query song, so the
answer moves in the asked direction while staying similar. No Discord here: the bot keeps
a `Conversation` (plain data, JSON-serialisable) per answer and calls the verbs at the
bottom (`start`, `more`, `like`, `refine`, `why`).

How refinements are applied
---------------------------
The pool is the `POOL_SIZE` songs closest to the query by cosine (the query and other
versions of it excluded, one version per song). Every refinement is a hard constraint on
that pool, and what survives is ranked by similarity alone, so a refined answer is never
padded with weak picks: if fewer than 10 songs pass, the answer says so and shows fewer.
Under a critique the answer's mean similarity must also stay within `MIN_SIMILARITY_RATIO`
of the same page without the critiques; the weakest picks are dropped until it does. Critiques are relative to the query song and to the unconstrained answer:
"calmer" keeps songs whose energy is at most the lower of the two (bad guy's 0.42, or its
neighbours' average if they are calmer still), so the answer is calmer than both what was
asked for and what was shown ("calmer than *bad guy*: energy ≤ 0.42"). Saying a critique
again ("even calmer", or "calmer" twice) moves the bound one step further (0.1 of a 0–1
feature, 10 BPM); the opposite critique replaces it. "instrumental" is absolute
(instrumentalness ≥ 0.5, Spotify's own threshold).

Grammar (case-insensitive; `!refine chill, no remixes, 2010s`)
--------------------------------------------------------------
    refinements := item (SEP item)*        SEP := "," | ";" | "and" | "but" | "&" | "+"
    item        := [INTENSITY] [NEGATION | "more" | "less"] PHRASE
    NEGATION    := "no" | "not" | "without" | "with no" | "non" | "minus" | "except"
    INTENSITY   := "much" | "way" | "a lot" | "even" | "really" | "very" | "super"
                   (one step further; "a bit", "slightly" are the default step)
    PHRASE      := a critique word, a filter word, a decade, or a year phrase:

    critiques   chill/calmer/mellow/relaxed/softer (energy down), upbeat/energetic/
                intense/harder (energy up), danceable/groovy, acoustic, electronic,
                happier/brighter, sadder/darker/moody (valence), faster/slower (tempo),
                instrumental / "no vocals", vocals, "less talky"/"less rap" (speechiness),
                talky/rappy. "less X" and "no X" turn a critique round: "less chill" is
                more upbeat, "no rap" is less talky.
    filters     remixes, live (alone: only those; with a negation: none of them),
                "other artists" (none by the query's artist), "same artist",
                popular/hits (popularity ≥ 60), "deep cuts"/obscure (popularity ≤ 30),
                older/newer (than the query song)
    years       90s, '90s, 1990s, nineties, 2010s, 1990-1999, before 2000, after 2015,
                since 2015, pre 2000, post 2010; "no 80s" excludes a decade
    reset       "reset" / "clear" / "start over" drops every refinement

Filler words ("please", "songs", "something", "the", "with", "only", ...) are skipped.
Any other word is returned as unknown, so the bot can name it back instead of silently
dropping it.

Inline refinements (`!recommend bad guy but more chill without remixes`): song titles
contain words such as "live", "no", "more" ("Live Forever", "No Scrubs", "More Than You
Know"), so the text is only split at an explicit connector: " but ", " without ",
" with no ", " minus ", " except " or a comma. A split counts when the words after it
name at least one refinement (or, after " but ", start with more/less/no/not/without);
among those, the one leaving the fewest unknown words wins, then the earliest. So
"I Can't Live Without You but calmer" keeps its title, and "Hello, Goodbye" stays a song.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from recommender.recommender import Recommender, TrackResult
from recommender.search import normalize

PAGE_SIZE = 10
POOL_SIZE = 500  # songs around the query that refinements choose from
MIN_SIMILARITY_RATIO = 0.8  # a critiqued answer's mean similarity vs the filtered best
POPULAR_AT_LEAST = 60  # roughly the catalog's top quarter
DEEP_CUTS_AT_MOST = 30  # roughly its bottom third
MAX_STEPS = 4
MAX_REMEMBERED = 300  # shown/earlier ids a conversation keeps


# -- vocabulary ------------------------------------------------------------------------
@dataclass(frozen=True)
class Critique:
    """A direction along one audio feature, relative to the query song."""

    feature: str
    direction: int  # +1 higher, -1 lower
    step: float  # how far one step moves the bound
    words: str  # "calmer", for "calmer than *bad guy*"
    opposite: str
    absolute: float | None = None  # instrumental: a fixed bound instead of a relative one


CRITIQUES: dict[str, Critique] = {
    "calmer": Critique("energy", -1, 0.1, "calmer", "upbeat"),
    "upbeat": Critique("energy", +1, 0.1, "more upbeat", "calmer"),
    "danceable": Critique("danceability", +1, 0.1, "more danceable", "less_danceable"),
    "less_danceable": Critique("danceability", -1, 0.1, "less danceable", "danceable"),
    "acoustic": Critique("acousticness", +1, 0.1, "more acoustic", "electronic"),
    "electronic": Critique("acousticness", -1, 0.1, "less acoustic", "acoustic"),
    "happier": Critique("valence", +1, 0.1, "happier", "sadder"),
    "sadder": Critique("valence", -1, 0.1, "sadder", "happier"),
    "faster": Critique("tempo", +1, 10.0, "faster", "slower"),
    "slower": Critique("tempo", -1, 10.0, "slower", "faster"),
    "instrumental": Critique("instrumentalness", +1, 0.2, "instrumental", "vocal", 0.5),
    "vocal": Critique("instrumentalness", -1, 0.2, "with vocals", "instrumental", 0.1),
    "less_talky": Critique("speechiness", -1, 0.04, "less talky", "talkier"),
    "talkier": Critique("speechiness", +1, 0.04, "talkier", "less_talky"),
}

FILTERS: dict[str, str] = {  # name -> the group in which a newer filter replaces an older
    "no_remix": "remix",
    "only_remix": "remix",
    "no_live": "live",
    "only_live": "live",
    "other_artists": "artist",
    "same_artist": "artist",
    "popular": "popularity",
    "deep_cuts": "popularity",
    "years": "years",
    "not_years": "years",
    "older": "years",
    "newer": "years",
}
_FILTER_OPPOSITE = {
    "no_remix": "only_remix",
    "only_remix": "no_remix",
    "no_live": "only_live",
    "only_live": "no_live",
    "other_artists": "same_artist",
    "same_artist": "other_artists",
    "popular": "deep_cuts",
    "deep_cuts": "popular",
    "years": "not_years",
    "not_years": "years",
    "older": "newer",
    "newer": "older",
}

_PHRASES: dict[str, str] = {}


def _words(name: str, *phrases: str) -> None:
    for phrase in phrases:
        _PHRASES[phrase] = name


_words(
    "calmer",
    "chill",
    "chiller",
    "chilled",
    "chillout",
    "calm",
    "calmer",
    "mellow",
    "mellower",
    "relaxed",
    "relaxing",
    "soft",
    "softer",
    "gentle",
    "gentler",
    "quiet",
    "quieter",
    "laid back",
    "laidback",
    "low energy",
    "lower energy",
    "less intense",
)
_words(
    "upbeat",
    "upbeat",
    "energetic",
    "energy",
    "high energy",
    "higher energy",
    "intense",
    "harder",
    "heavier",
    "louder",
    "hype",
    "hyped",
    "punchier",
    "pumped",
    "livelier",
)
_words(
    "danceable",
    "danceable",
    "danceability",
    "dancey",
    "dancy",
    "dancier",
    "groovy",
    "groovier",
    "dance",
    "dancing",
    "for dancing",
)
_words("acoustic", "acoustic", "acoustics", "unplugged", "organic")
_words("electronic", "electronic", "synthy", "electric")
_words("happier", "happy", "happier", "cheerful", "brighter", "bright", "sunnier", "uplifting")
_words("happier", "feel good", "feelgood", "positive", "joyful")
_words("sadder", "sad", "sadder", "darker", "dark", "moody", "moodier", "melancholic")
_words("sadder", "melancholy", "gloomy", "gloomier")
_words("faster", "faster", "fast", "quicker", "quick", "higher tempo", "higher bpm")
_words("slower", "slower", "slow", "lower tempo", "lower bpm")
_words("instrumental", "instrumental", "instrumentals", "instrumentally")
_words("vocal", "vocals", "vocal", "singing", "sung", "lyrics", "voice", "voices")
_words("talkier", "talky", "talkier", "talking", "rap", "rappy", "rapping", "spoken", "speech")
_words("talkier", "wordy", "wordier", "chatty")
_words("only_remix", "remix", "remixes", "remixed", "rmx", "remixs")
_words("only_live", "live", "live versions", "live version", "live recordings", "concert")
_words("only_live", "live recording", "in concert")
_words("other_artists", "other artists", "other artist", "different artists", "different artist")
_words("other_artists", "another artist", "new artists", "other bands", "different bands")
_words("same_artist", "same artist", "same band", "this artist", "same singer")
_words("popular", "popular", "hits", "hit", "mainstream", "well known", "famous", "known")
_words("deep_cuts", "deep cuts", "deep cut", "obscure", "underground", "lesser known")
_words("deep_cuts", "hidden gems", "unknown", "niche", "b sides", "rare")
_words("older", "older", "old", "oldies", "classic", "classics")
_words("newer", "newer", "new", "recent", "fresh", "modern")
_words("reset", "reset", "clear", "start over", "no filters", "no refinements")

# "not/no" + critique turns it round; "less" too, and "more" keeps it.
_NEGATIONS = {"no", "not", "without", "non", "minus", "except", "nothing", "excluding", "wo"}
_NEGATION_PHRASES = {("with", "no"), ("w", "o"), ("none", "of")}
_INTENSITY = {"much", "way", "lot", "even", "really", "very", "super", "far", "extra", "lots"}
_MORE = {"more", "plus", "higher"}
_LESS = {"less", "fewer", "lower", "lesser"}
_FILLER = {
    "a",
    "an",
    "the",
    "bit",
    "little",
    "slightly",
    "somewhat",
    "tad",
    "please",
    "pls",
    "plz",
    "songs",
    "song",
    "tracks",
    "track",
    "music",
    "stuff",
    "something",
    "some",
    "ones",
    "one",
    "only",
    "just",
    "with",
    "from",
    "in",
    "of",
    "by",
    "make",
    "it",
    "them",
    "versions",
    "version",
    "era",
    "released",
    "release",
    "releases",
    "years",
    "year",
    "kind",
    "sort",
    "maybe",
    "and",
    "but",
    "than",
    "that",
    "this",
    "too",
    "ish",
    "i",
    "want",
    "like",
    "give",
    "me",
    "show",
    "can",
    "you",
    "still",
    "also",
    "now",
    "then",
    "thanks",
    "thank",
    "vibe",
    "vibes",
    "feel",
    "feeling",
    "mood",
    "sound",
    "sounding",
    "tunes",
    "tempo",
    "bpm",
}
_SEPARATOR_TOKENS = {",", ";", "&", "+", "and", "but"}
_NUMBER_WORDS = {
    "fifties": 1950,
    "sixties": 1960,
    "seventies": 1970,
    "eighties": 1980,
    "nineties": 1990,
    "noughties": 2000,
    "aughts": 2000,
}
_TOKEN = re.compile(r"\d{4}\s*[-–—]\s*\d{4}|[a-z0-9']+|[,;&+]")
_DECADE = re.compile(r"^'?(\d{2}|\d{4})'?s$")
_YEAR = re.compile(r"^\d{4}$")
_YEAR_RANGE = re.compile(r"^(\d{4})\s*[-–—]\s*(\d{4})$")
_CONNECTORS = re.compile(r"\s+(but|without|with\s+no|minus|except)\s+|\s*,\s*", re.IGNORECASE)
_SPLIT_STARTERS = {"more", "less", "no", "not", "without", "a", "much", "even", "way"}


# -- refinements -----------------------------------------------------------------------
@dataclass(frozen=True)
class Refinement:
    """One critique or filter. `steps` is how far a critique goes; low/high are years."""

    name: str
    steps: int = 1
    low: int | None = None
    high: int | None = None

    @property
    def is_critique(self) -> bool:
        return self.name in CRITIQUES

    @property
    def group(self) -> str:
        """Refinements in one group replace each other (a feature, or a filter family)."""
        if self.name in CRITIQUES:
            return CRITIQUES[self.name].feature
        return FILTERS.get(self.name, self.name)

    def turned_round(self) -> Refinement:
        if self.name in CRITIQUES:
            return replace(self, name=CRITIQUES[self.name].opposite)
        if self.name in _FILTER_OPPOSITE:
            return replace(self, name=_FILTER_OPPOSITE[self.name])
        return self

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Refinement:
        return cls(
            name=str(data["name"]),
            steps=int(data.get("steps", 1)),
            low=None if data.get("low") is None else int(data["low"]),
            high=None if data.get("high") is None else int(data["high"]),
        )


@dataclass(frozen=True)
class Parsed:
    """What some refinement words meant; `unknown` holds the words we did not understand."""

    refinements: list[Refinement] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Request:
    """`!recommend` text split into the song and the refinements after it."""

    song: str
    refinements: list[Refinement] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'").replace("`", "'")
    text = text.replace("w/o", " wo ").replace("/", " ").replace("-", " - ")
    text = re.sub(r"(\d{4})\s+-\s+(\d{4})", r"\1-\2", text)
    text = text.replace(" - ", " ")
    return _TOKEN.findall(text)


def _decade(token: str) -> tuple[int, int] | None:
    if token in _NUMBER_WORDS:
        start = _NUMBER_WORDS[token]
        return start, start + 9
    match = _DECADE.match(token.replace("'s", "s"))
    if not match:
        return None
    number = int(match.group(1))
    if number >= 100:
        start = number - number % 10
    else:
        start = (1900 if number >= 30 else 2000) + number - number % 10
    return start, start + 9


def _year_phrase(tokens: list[str], i: int) -> tuple[Refinement, int] | None:
    """A decade, range or 'before/after YEAR' at tokens[i]; returns it and tokens used."""
    token = tokens[i]
    if (span := _decade(token)) is not None:
        return Refinement("years", low=span[0], high=span[1]), 1
    if match := _YEAR_RANGE.match(token):
        low, high = sorted((int(match.group(1)), int(match.group(2))))
        return Refinement("years", low=low, high=high), 1
    if _YEAR.match(token):
        return Refinement("years", low=int(token), high=int(token)), 1
    if i + 1 < len(tokens) and _YEAR.match(tokens[i + 1]):
        year = int(tokens[i + 1])
        if token in {"before", "pre", "until", "till", "til", "older"}:
            return Refinement("years", high=year - 1), 2
        if token in {"after", "post", "newer"}:
            return Refinement("years", low=year + 1), 2
        if token in {"since", "from"}:
            return Refinement("years", low=year), 2
    return None


def parse_refinements(text: str) -> Parsed:
    """Refinements in `text` (see the module docstring for the grammar)."""
    tokens = _tokens(text)
    found: list[Refinement] = []
    unknown: list[str] = []
    negate = turn = False
    steps = 1
    pending: list[str] = []  # words since a negation/"less", named back if nothing follows

    def settle() -> None:
        """End of an item: a dangling "without ..." or "less ..." is named back."""
        nonlocal negate, turn, steps
        if (negate or turn) and pending:
            unknown.append(" ".join(pending))
        negate = turn = False
        steps = 1
        pending.clear()

    def add(refinement: Refinement, used: int) -> int:
        nonlocal negate, turn
        if refinement.name in {"years", "not_years"}:
            if negate:
                refinement = replace(refinement, name="not_years")
        elif refinement.name != "reset" and negate != turn:
            refinement = refinement.turned_round()
        found.append(refinement)
        negate = turn = False
        settle()
        return used

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _SEPARATOR_TOKENS:
            settle()
            i += 1
            continue
        if tuple(tokens[i : i + 2]) in _NEGATION_PHRASES:
            negate = True
            pending.extend(tokens[i : i + 2])
            i += 2
            continue
        year = _year_phrase(tokens, i)
        if year is not None:
            i += add(year[0], year[1])
            continue
        matched = None
        for length in (3, 2, 1):
            words = tokens[i : i + length]
            if len(words) == length and " ".join(words) in _PHRASES:
                matched = (_PHRASES[" ".join(words)], length)
                break
        if matched is not None:
            i += add(Refinement(matched[0], steps=min(steps, MAX_STEPS)), matched[1])
            continue
        if token in _NEGATIONS:
            negate = True
            pending.append(token)
        elif token in _LESS:
            turn = not turn
            pending.append(token)
        elif token in _INTENSITY:
            steps += 1
            pending.append(token)
        elif token in _MORE or token in _FILLER:
            pending.append(token)
        else:
            modifiers = [w for w in pending if w not in _FILLER and w not in _MORE]
            unknown.append(" ".join([*modifiers, token]))
            negate = turn = False
            steps = 1
            pending.clear()
        i += 1
    settle()
    return Parsed(refinements=found, unknown=unknown)


def split_request(text: str) -> Request:
    """Split `!recommend` text into the song and inline refinements (see the docstring)."""
    text = text.strip()
    best: tuple[int, int, Request] | None = None
    for match in _CONNECTORS.finditer(text):
        head = text[: match.start()].strip()
        if not head:
            continue
        connector = match.group(1)
        tail = text[match.start() :].strip() if connector else text[match.end() :].strip()
        parsed = parse_refinements(tail)
        first_words = _tokens(text[match.end() :])[:1]
        eligible = bool(parsed.refinements) or (
            connector is not None
            and connector.lower() == "but"
            and bool(first_words)
            and first_words[0] in _SPLIT_STARTERS
        )
        if not eligible:
            continue
        request = Request(head, parsed.refinements, parsed.unknown)
        rank = (len(parsed.unknown), match.start())
        if best is None or rank < best[:2]:
            best = (*rank, request)
    return best[2] if best else Request(text)


def combine(old: Iterable[Refinement], new: Iterable[Refinement]) -> list[Refinement]:
    """Refinements after saying `new` on top of `old`.

    The same critique again goes one step further; the opposite critique, or another
    filter of the same family (a decade after a decade), replaces the old one.
    """
    result: list[Refinement] = list(old)
    for item in new:
        if item.name == "reset":
            result = []
            continue
        index = next((i for i, r in enumerate(result) if r.group == item.group), None)
        if index is None:
            result.append(item)
        elif item.is_critique and result[index].name == item.name:
            steps = min(result[index].steps + item.steps, MAX_STEPS)
            result[index] = replace(item, steps=steps)
        else:
            result[index] = item
    return result


# -- per-catalog facts -----------------------------------------------------------------
_QUALIFIER = re.compile(r"[(\[{](.*?)[)\]}]|\s[-–—]\s(.*)$")
_REMIX = re.compile(r"re-?mix|\brmx\b")
_REMIX_QUALIFIER = re.compile(r"\b(mix|bootleg|rework|vip|dub)\b")
_NOT_REMIX_QUALIFIER = re.compile(r"\b(original|album|radio|single|mono|stereo|20\d\d|19\d\d)\b")
_LIVE_QUALIFIER = re.compile(r"\b(live|en vivo|ao vivo|unplugged|in concert)\b")
_LIVE_ALBUM = re.compile(r"^(live (at|from|in|on)|mtv unplugged)\b|\blive$|\(live\b")
LIVENESS_LIVE = 0.8  # Spotify: above 0.8, a strong likelihood the track was performed live


def _qualifiers(name: str) -> str:
    parts = [a or b for a, b in _QUALIFIER.findall(str(name))]
    return normalize(" ".join(p for p in parts if p))


class _CatalogFacts:
    """Arrays the refinements test, computed once per model."""

    def __init__(self, rec: Recommender) -> None:
        tracks = rec.catalog.tracks
        self.tracks = tracks
        self.features = {
            name: tracks[name].to_numpy(dtype=np.float64)
            for name in ("energy", "danceability", "acousticness", "valence", "tempo")
            + ("instrumentalness", "speechiness", "liveness")
        }
        self.years = tracks["release_year"].to_numpy(dtype=np.int64)
        self.popularity = tracks["track_popularity"].to_numpy(dtype=np.float64)
        self.artists = np.array([normalize(a) for a in tracks["track_artist"]], dtype=object)
        self.titles = np.array([normalize(n) for n in tracks["track_name"]], dtype=object)
        self.keys = np.array(rec.song_keys, dtype=object)  # the model's, not a second copy
        qualifiers = [_qualifiers(n) for n in tracks["track_name"]]
        album_qualifiers = [_qualifiers(a) for a in tracks["track_album_name"]]
        albums = [normalize(a) for a in tracks["track_album_name"]]
        self.remix = np.array(
            [
                bool(_REMIX.search(t))
                or (bool(_REMIX.search(aq)) and "original" not in q)
                or (bool(_REMIX_QUALIFIER.search(q)) and not _NOT_REMIX_QUALIFIER.search(q))
                for t, q, aq in zip(self.titles, qualifiers, album_qualifiers, strict=True)
            ]
        )
        self.live = np.array(
            [
                bool(_LIVE_QUALIFIER.search(q))
                or bool(_LIVE_QUALIFIER.search(aq))
                or bool(_LIVE_ALBUM.search(a))
                for q, aq, a in zip(qualifiers, album_qualifiers, albums, strict=True)
            ]
        ) | (self.features["liveness"] >= LIVENESS_LIVE)

    def mentions(self, rows: np.ndarray, artist: str) -> np.ndarray:
        """Rows by `artist` or featuring them in the title ("lovely (with Khalid)")."""
        pattern = re.compile(rf"(^| ){re.escape(artist)}( |$)")
        return np.array(
            [self.artists[r] == artist or bool(pattern.search(self.titles[r])) for r in rows],
            dtype=bool,
        )


_FACTS: weakref.WeakKeyDictionary[Recommender, _CatalogFacts] = weakref.WeakKeyDictionary()


def facts(rec: Recommender) -> _CatalogFacts:
    if rec not in _FACTS:
        _FACTS[rec] = _CatalogFacts(rec)
    return _FACTS[rec]


# -- answers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """One refined list: the picks, what was applied, and a note when fewer than asked."""

    query: list[TrackResult]
    picks: list[TrackResult]
    applied: list[str]
    note: str = ""
    baseline_similarity: float = 0.0  # mean cosine of the unconstrained first page
    unknown: list[str] = field(default_factory=list)

    @property
    def query_label(self) -> str:
        return " + ".join(f"*{t.name}*" for t in self.query)

    @property
    def summary(self) -> str:
        """'calmer than *bad guy*: energy ≤ 0.38; remixes removed' (empty if nothing applied)."""
        return "; ".join(self.applied)

    @property
    def similarity(self) -> float:
        return float(np.mean([p.score for p in self.picks])) if self.picks else 0.0

    @property
    def unknown_text(self) -> str:
        if not self.unknown:
            return ""
        words = ", ".join(f"“{w}”" for w in self.unknown)
        return f"I didn't understand {words}; try e.g. calmer, upbeat, no remixes, 90s."


@dataclass(frozen=True)
class _Constraint:
    text: str
    mask: np.ndarray  # over the candidate rows
    impossible: str = ""  # why nothing can pass, for the note


def _fmt(feature: str, value: float) -> str:
    return f"{value:.0f} BPM" if feature == "tempo" else f"{value:.2f}"


def _critique(
    facts_: _CatalogFacts,
    rows: np.ndarray,
    seeds: list[int],
    refinement: Refinement,
    label: str,
    first_page: np.ndarray,
) -> _Constraint:
    """A bound past both the query song and the unconstrained list's average.

    Past the query because the issue is "calmer than *bad guy*"; past the list too,
    because people judge "calmer" against the list they just saw: if bad guy's neighbours
    are already calmer than bad guy, "calmer" must go below them as well.
    """
    critique = CRITIQUES[refinement.name]
    values = facts_.features[critique.feature]
    query_value = float(values[seeds].mean())
    steps = refinement.steps
    name = critique.feature
    sign = "≥" if critique.direction > 0 else "≤"
    if critique.absolute is not None:
        bound = critique.absolute + critique.direction * critique.step * (steps - 1)
        bound = min(max(bound, 0.0), 0.95)
        prefix = critique.words
    else:
        list_value = float(values[first_page].mean()) if len(first_page) else query_value
        pick = max if critique.direction > 0 else min
        start = pick(query_value, list_value)
        bound = start + critique.direction * critique.step * (steps - 1)
        prefix = f"{critique.words} than {label}"
        if start != query_value:
            prefix += " and its usual matches"
    mask = values[rows] >= bound if critique.direction > 0 else values[rows] <= bound
    text = f"{prefix}: {name} {sign} {_fmt(critique.feature, bound)}"
    lowest, highest = (0.0, 250.0) if critique.feature == "tempo" else (0.0, 1.0)
    impossible = ""
    if not lowest <= bound <= highest:
        impossible = (
            f"{label} is already about as far as it goes ({name} "
            f"{_fmt(critique.feature, query_value)})"
        )
    return _Constraint(text, mask, impossible)


def _years_text(low: int | None, high: int | None, exclude: bool) -> str:
    if low is not None and high is not None:
        span = f"{low}" if low == high else f"{low}–{high}"
        return f"no {span} releases" if exclude else f"only {span} releases"
    if high is not None:
        return f"released before {high + 1}"
    return f"released after {(low or 0) - 1}"


def _filter(
    facts_: _CatalogFacts,
    rows: np.ndarray,
    seeds: list[int],
    refinement: Refinement,
    label: str,
) -> _Constraint:
    name = refinement.name
    if name in {"no_remix", "only_remix"}:
        hit = facts_.remix[rows]
        return _Constraint(
            "remixes removed" if name == "no_remix" else "only remixes",
            ~hit if name == "no_remix" else hit,
        )
    if name in {"no_live", "only_live"}:
        hit = facts_.live[rows]
        return _Constraint(
            "live versions removed" if name == "no_live" else "only live versions",
            ~hit if name == "no_live" else hit,
        )
    if name in {"other_artists", "same_artist"}:
        artists = list(dict.fromkeys(facts_.artists[s] for s in seeds))
        shown = ", ".join(dict.fromkeys(str(facts_.tracks["track_artist"].iloc[s]) for s in seeds))
        by_them = np.zeros(len(rows), dtype=bool)
        for artist in artists:
            by_them |= facts_.mentions(rows, artist)
        if name == "other_artists":
            return _Constraint(f"other artists than {shown}", ~by_them)
        return _Constraint(f"only {shown}", by_them)
    popularity = facts_.popularity[rows]
    if name == "popular":
        return _Constraint(
            f"popular: popularity ≥ {POPULAR_AT_LEAST}", popularity >= POPULAR_AT_LEAST
        )
    if name == "deep_cuts":
        return _Constraint(
            f"deep cuts: popularity ≤ {DEEP_CUTS_AT_MOST}", popularity <= DEEP_CUTS_AT_MOST
        )
    years = facts_.years[rows]
    known = years > 0
    if name in {"older", "newer"}:
        query_year = int(np.median(facts_.years[seeds]))
        if query_year <= 0:
            return _Constraint(f"{name} ({label} has no release year)", np.zeros(len(rows), bool))
        if name == "older":
            return _Constraint(
                f"older than {label}: released before {query_year}",
                known & (years < query_year),
            )
        return _Constraint(
            f"newer than {label}: released after {query_year}", known & (years > query_year)
        )
    low = refinement.low if refinement.low is not None else -(10**9)
    high = refinement.high if refinement.high is not None else 10**9
    inside = known & (years >= low) & (years <= high)
    exclude = name == "not_years"
    text = _years_text(refinement.low, refinement.high, exclude)
    return _Constraint(text, (known & ~inside) if exclude else inside)


def recommend(
    rec: Recommender,
    seeds: Sequence[str],
    refinements: Sequence[Refinement] = (),
    k: int = PAGE_SIZE,
    exclude: Iterable[str] = (),
    pool_size: int = POOL_SIZE,
    continuing: bool = False,
) -> Answer:
    """Up to k songs like the seeds that pass every refinement, best first.

    `exclude` (already shown, earlier seeds) and other versions of them never come back.
    Fewer than k when the refinements leave fewer; the note then says so.
    """
    facts_ = facts(rec)
    unique_seeds = list(dict.fromkeys(seeds))
    if not unique_seeds:
        raise ValueError("at least one seed track is required")
    seed_rows = [rec.row(t) for t in unique_seeds]
    query = [rec.track(t, 1.0) for t in unique_seeds]
    label = " + ".join(f"*{t.name}*" for t in query)
    scores = rec.scores_for_tracks(unique_seeds)
    banned_keys = {facts_.keys[r] for r in seed_rows}
    banned_rows = set(seed_rows)
    pool = _pool(scores, facts_.keys, banned_rows, banned_keys, pool_size)
    baseline = float(scores[pool[:k]].mean()) if len(pool) else 0.0

    excluded_rows = {rec.row(t) for t in exclude if t in rec}
    excluded_keys = {facts_.keys[r] for r in excluded_rows}
    not_shown = np.array(
        [r not in excluded_rows and facts_.keys[r] not in excluded_keys for r in pool], dtype=bool
    )

    applied: list[str] = []
    impossible: list[str] = []
    filters = np.ones(len(pool), dtype=bool)
    critiques = np.ones(len(pool), dtype=bool)
    has_critique = False
    for refinement in refinements:
        if refinement.name == "reset":
            continue
        if refinement.is_critique:
            constraint = _critique(facts_, pool, seed_rows, refinement, label, pool[:k])
            critiques &= constraint.mask
            has_critique = True
        else:
            constraint = _filter(facts_, pool, seed_rows, refinement, label)
            filters &= constraint.mask
        applied.append(constraint.text)
        if constraint.impossible:
            impossible.append(constraint.impossible)
    chosen = pool[not_shown & filters & critiques][:k]
    if has_critique and len(chosen):
        # A critique trades similarity for direction; keep the trade bounded: the page's
        # mean similarity stays within MIN_SIMILARITY_RATIO of the same page without the
        # critique (for "other artists", the best *other* artists, not the query artist's
        # own songs, which the model can rate near 1.0). Drop the weakest picks until so.
        allowed = pool[filters]
        offset = int((filters & ~not_shown).sum())  # this page's place in the paging
        reference = allowed[offset : offset + k] if len(allowed) > offset else allowed[-k:]
        floor = MIN_SIMILARITY_RATIO * float(scores[reference].mean())
        running_mean = np.cumsum(scores[chosen]) / np.arange(1, len(chosen) + 1)
        chosen = chosen[: int(np.flatnonzero(running_mean >= floor).max(initial=-1)) + 1]
    picks = [rec.track(str(facts_.tracks["track_id"].iloc[r]), float(scores[r])) for r in chosen]

    note = ""
    if len(picks) < k:
        left = ("No" if not picks else f"Only {len(picks)}") + (" more" if continuing else "")
        if refinements:
            note = (
                f"{left} songs close to {label} pass these refinements"
                + (f" ({'; '.join(impossible)})" if impossible else "")
                + "; showing "
                + ("none" if not picks else "those")
                + " rather than padding with weaker matches."
            )
        else:
            note = f"{left} songs close enough to {label}" + (
                "; that's all of them." if continuing else "."
            )
    return Answer(query, picks, applied, note, round(baseline, 4))


def _pool(
    scores: np.ndarray, keys: np.ndarray, banned_rows: set[int], banned_keys: set[str], size: int
) -> np.ndarray:
    """The `size` best-scoring rows, one version per song, seeds and their versions out."""
    order = np.argsort(-scores, kind="stable")
    seen = set(banned_keys)
    picked: list[int] = []
    for row in order.tolist():
        if row in banned_rows or keys[row] in seen:
            continue
        seen.add(keys[row])
        picked.append(row)
        if len(picked) >= size:
            break
    return np.array(picked, dtype=np.int64)


# -- a conversation --------------------------------------------------------------------
class FollowUpError(ValueError):
    """A follow-up that cannot be answered; the message is for the person who asked."""


@dataclass
class Conversation:
    """What a follow-up needs to know about the last answer (plain data, JSON-friendly).

    seeds: the query songs; refinements: what steers them; shown: every track shown for
    this query and refinements (`more` never repeats them); last: the numbered picks of
    the last answer (`like 3`, `why 3`); earlier: seeds from before a `like`, never
    recommended again in the chain.
    """

    seeds: list[str]
    refinements: list[Refinement] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    last: list[str] = field(default_factory=list)
    earlier: list[str] = field(default_factory=list)
    page: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds),
            "refinements": [r.to_dict() for r in self.refinements],
            "shown": list(self.shown)[-MAX_REMEMBERED:],
            "last": list(self.last),
            "earlier": list(self.earlier)[-MAX_REMEMBERED:],
            "page": self.page,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        return cls(
            seeds=[str(s) for s in data.get("seeds", [])],
            refinements=[Refinement.from_dict(r) for r in data.get("refinements", [])],
            shown=[str(s) for s in data.get("shown", [])],
            last=[str(s) for s in data.get("last", [])],
            earlier=[str(s) for s in data.get("earlier", [])],
            page=int(data.get("page", 1)),
        )

    def pick(self, n: int) -> str:
        if not self.last:
            raise FollowUpError("There is no list to pick from yet; ask for a song first.")
        if not 1 <= n <= len(self.last):
            raise FollowUpError(f"Pick a number from 1 to {len(self.last)}.")
        return self.last[n - 1]


@dataclass(frozen=True)
class Turn:
    """A follow-up's result: the new conversation state and the answer to show."""

    conversation: Conversation
    answer: Answer


def start(
    rec: Recommender,
    seeds: Sequence[str],
    refinements: Sequence[Refinement] = (),
    k: int = PAGE_SIZE,
    earlier: Sequence[str] = (),
) -> Turn:
    """A fresh answer for new seeds; the start of a conversation."""
    refinements = combine([], refinements)
    answer = recommend(rec, seeds, refinements, k=k, exclude=earlier)
    ids = [p.track_id for p in answer.picks]
    conversation = Conversation(
        seeds=list(seeds),
        refinements=list(refinements),
        shown=ids,
        last=ids,
        earlier=list(earlier),
    )
    return Turn(conversation, answer)


def more(rec: Recommender, conversation: Conversation, k: int = PAGE_SIZE) -> Turn:
    """The next k for the same query and refinements, never repeating what was shown."""
    answer = recommend(
        rec,
        conversation.seeds,
        conversation.refinements,
        k=k,
        exclude=[*conversation.earlier, *conversation.shown],
        continuing=True,
    )
    ids = [p.track_id for p in answer.picks]
    if not ids:  # nothing new: keep the old numbering so `like 3` still means the same
        return Turn(conversation, answer)
    updated = replace(
        conversation,
        shown=[*conversation.shown, *ids],
        last=ids,
        page=conversation.page + 1,
    )
    return Turn(updated, answer)


def like(rec: Recommender, conversation: Conversation, n: int, k: int = PAGE_SIZE) -> Turn:
    """A new answer seeded by pick n; the refinements carry over, earlier seeds stay out."""
    pick = conversation.pick(n)
    earlier = list(dict.fromkeys([*conversation.earlier, *conversation.seeds]))
    return start(rec, [pick], conversation.refinements, k=k, earlier=earlier)


def refine(
    rec: Recommender,
    conversation: Conversation,
    refinements: Sequence[Refinement],
    k: int = PAGE_SIZE,
) -> Turn:
    """The same query with more refinements (or a reset); a fresh first page."""
    combined = combine(conversation.refinements, refinements)
    return start(rec, conversation.seeds, combined, k=k, earlier=conversation.earlier)


def why(
    rec: Recommender,
    conversation: Conversation,
    n: int,
    escape: Callable[[str], str] = lambda text: text,
) -> str:
    """Why pick n of the last answer was recommended, in people's words."""
    from recommender.explain import explain

    return explain(rec, conversation.seeds[0], conversation.pick(n), escape)


__all__ = [
    "Answer",
    "Conversation",
    "FollowUpError",
    "Parsed",
    "Refinement",
    "Request",
    "Turn",
    "combine",
    "like",
    "more",
    "parse_refinements",
    "recommend",
    "refine",
    "split_request",
    "start",
    "why",
]
