"""The words people steer an answer with: "chill, no remixes, 2010s" -> refinements.

Pure text: no catalog, no model. `parse_refinements` reads a `!refine` list,
`split_request` finds inline refinements after a song (`!recommend bad guy but calmer`),
and `combine` says what applies after a follow-up ("calmer" twice goes one step further,
the opposite critique replaces it, "reset" drops everything). How the refinements move
an answer is `recommender.followups.constraints`; the words themselves (critiques,
filters, modifiers, filler) are tables in `recommender.followups.words`.

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
                "other artists" (none by the query's artist), "same artist" / "more
                from this artist" (only the query's artist; lifts the artist spread),
                popular/hits (popularity ≥ 60), "deep cuts"/obscure (popularity ≤ 30),
                older/newer (than the query song)
    years       90s, '90s, 1990s, nineties, 2010s, 1990-1999, before 2000, after 2015,
                since 2015, pre 2000, post 2010; "no 80s" excludes a decade
    genres      the catalog's own words for kinds of music, when the caller passes them
                (`terms`: the model's `recommender.vocabulary`): "neo soul", "classic
                rock", "no trap" (a genre filter, or its negation)
    reset       "reset" / "clear" / "start over" drops every refinement

With no song to compare with (a request in words, `recommender.followups.describe`), a
critique is a mood with a level of its own (`Critique.level`: "chill" is energy below 0.45).

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
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from recommender.followups.words import (
    CRITIQUES,
    FILLER,
    FILTER_OPPOSITE,
    FILTERS,
    INTENSITY,
    LESS,
    MORE,
    NEGATION_PHRASES,
    NEGATIONS,
    NUMBER_WORDS,
    PHRASES,
    SEPARATOR_TOKENS,
    SONG_RELATIVE,
    Critique,
)

MAX_STEPS = 4  # "much much much calmer" goes no further than this


_TOKEN = re.compile(r"\d{4}\s*[-–—]\s*\d{4}|r&b|[^\W_]+(?:'[^\W_]+)*|'\d\ds|[,;&+]")
_DECADE = re.compile(r"^'?(\d{2}|\d{4})'?s$")
_YEAR = re.compile(r"^\d{4}$")
_YEAR_RANGE = re.compile(r"^(\d{4})\s*[-–—]\s*(\d{4})$")
_CONNECTORS = re.compile(r"\s+(but|without|with\s+no|minus|except)\s+|\s*,\s*", re.IGNORECASE)
_SPLIT_STARTERS = {"more", "less", "no", "not", "without", "a", "much", "even", "way"}


# -- refinements -----------------------------------------------------------------------
@dataclass(frozen=True)
class Refinement:
    """One critique or filter. `steps` is how far a critique goes; low/high are years;
    `term` is the catalog's word for a genre filter ("neo soul", "classic rock")."""

    name: str
    steps: int = 1
    low: int | None = None
    high: int | None = None
    term: str | None = None

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
        if self.name in FILTER_OPPOSITE:
            return replace(self, name=FILTER_OPPOSITE[self.name])
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
            term=None if data.get("term") is None else str(data["term"]),
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
    text = re.sub(r"\br\s*(?:&|and|'?n'?)\s*b\b", "r&b", text)
    return _TOKEN.findall(text)


def phrase(text: str) -> str:
    """`text` as the grammar reads it: "Neo-Soul" and "neo soul" are one phrase."""
    return " ".join(t for t in _tokens(text) if t not in SEPARATOR_TOKENS)


def _decade(token: str) -> tuple[int, int] | None:
    if token in NUMBER_WORDS:
        start = NUMBER_WORDS[token]
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


def parse_refinements(text: str, terms: Collection[str] = ()) -> Parsed:
    """Refinements in `text` (see the module docstring for the grammar).

    `terms`: the catalog's own words for kinds of music (its genre labels and playlist
    names, learned with the model: `recommender.vocabulary`), each as `phrase` gives it;
    one of them reads as a genre filter ("neo soul", "no trap"). The longest match wins,
    so "classic rock" is the genre, not "classic" (older); at equal length the catalog's
    word wins over the grammar's ("rap" the genre, not "talkier")."""
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
        if refinement.name in {"years", "not_years", "genre"}:
            if negate:
                refinement = refinement.turned_round()
        elif refinement.name != "reset" and negate != turn:
            refinement = refinement.turned_round()
        found.append(refinement)
        negate = turn = False
        settle()
        return used

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in SEPARATOR_TOKENS:
            settle()
            i += 1
            continue
        if tuple(tokens[i : i + 2]) in NEGATION_PHRASES:
            negate = True
            pending.extend(tokens[i : i + 2])
            i += 2
            continue
        year = _year_phrase(tokens, i)
        if year is not None:
            i += add(year[0], year[1])
            continue
        matched = None
        for length in (4, 3, 2, 1):
            words = " ".join(tokens[i : i + length])
            if len(tokens[i : i + length]) < length:
                continue
            if words in terms:
                matched = (Refinement("genre", term=words), length)
                break
            if words in PHRASES:
                matched = (Refinement(PHRASES[words], steps=min(steps, MAX_STEPS)), length)
                break
        if matched is not None:
            i += add(*matched)
            continue
        if token in NEGATIONS:
            negate = True
            pending.append(token)
        elif token in LESS:
            turn = not turn
            pending.append(token)
        elif token in INTENSITY:
            steps += 1
            pending.append(token)
        elif token in MORE or token in FILLER:
            pending.append(token)
        else:
            modifiers = [w for w in pending if w not in FILLER and w not in MORE]
            unknown.append(" ".join([*modifiers, token]))
            negate = turn = False
            steps = 1
            pending.clear()
        i += 1
    settle()
    return Parsed(refinements=found, unknown=unknown)


def split_request(text: str, terms: Collection[str] = ()) -> Request:
    """Split `!recommend` text into the song and inline refinements (see the docstring)."""
    text = text.strip()
    best: tuple[int, int, Request] | None = None
    for match in _CONNECTORS.finditer(text):
        head = text[: match.start()].strip()
        if not head:
            continue
        connector = match.group(1)
        tail = text[match.start() :].strip() if connector else text[match.end() :].strip()
        parsed = parse_refinements(tail, terms)
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


__all__ = [
    "CRITIQUES",
    "FILTERS",
    "Critique",
    "Parsed",
    "SONG_RELATIVE",
    "Refinement",
    "Request",
    "combine",
    "parse_refinements",
    "phrase",
    "split_request",
]


# -- suggestions while typing -------------------------------------------------------------
# Offered first, in this order, before the rest of the vocabulary (alphabetical).
_COMMON = (
    "calmer",
    "more upbeat",
    "danceable",
    "acoustic",
    "electronic",
    "happier",
    "sadder",
    "faster",
    "slower",
    "instrumental",
    "vocals",
    "less talky",
    "no remixes",
    "no live",
    "other artists",
    "same artist",
    "popular",
    "deep cuts",
    "older",
    "newer",
    "80s",
    "90s",
    "2000s",
    "2010s",
    "reset",
)
_MODIFIER = re.compile(
    r"^(?:(?:no|not|without|less|more|much|way|very|really|super|a bit|slightly)\s+)+"
)


def _vocabulary() -> tuple[str, ...]:
    decades = [f"{d}s" for d in range(1950, 2030, 10)] + [f"{d:02d}s" for d in range(50, 100, 10)]
    rest = sorted({*PHRASES, *decades, "before 2000", "after 2010"} - set(_COMMON))
    return (*_COMMON, *rest)


VOCABULARY = _vocabulary()


def completions(text: str, limit: int = 25) -> list[str]:
    """Whole refinement texts that finish the item being typed, for autocomplete.

    "chill, no re" offers "chill, no remixes", ...: the items before the last comma stay,
    a leading no/less/more/much on the last item stays, and the rest of it is matched
    against the words `parse_refinements` knows (those starting with it first). Every
    offer parses to at least one refinement; none is longer than 100 characters.
    """
    head, comma, last = text.rpartition(",")
    kept = f"{head.strip()}, " if comma and head.strip() else ""
    typed = " ".join(last.casefold().split())
    modifier = _MODIFIER.match(typed)
    lead = modifier.group(0) if modifier else ""
    word = typed[len(lead) :]
    phrases = VOCABULARY
    if lead:  # "no " + "no remixes" or "no " + "reset" mean nothing more
        phrases = tuple(
            w for w in phrases if not _MODIFIER.match(w + " ") and PHRASES.get(w) != "reset"
        )
    starting = [w for w in phrases if w.startswith(word)]
    inside = [w for w in phrases if word in w and not w.startswith(word)]
    offers: list[str] = []
    meanings: set[tuple[Refinement, ...]] = set()
    for phrase in starting + inside:
        offer = kept + lead + phrase
        meaning = tuple(parse_refinements(lead + phrase).refinements)
        if len(offer) > 100 or not meaning or meaning in meanings:
            continue  # one offer per meaning: "remix", not also "remixes", "remixed"
        meanings.add(meaning)
        offers.append(offer)
        if len(offers) == limit:
            break
    return offers
