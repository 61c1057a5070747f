"""Music asked for in words: "neo soul", "something chill from the 90s", "songs to dance to".

A description is read with the one vocabulary requests and follow-ups share: the
catalog's own words for kinds of music (`recommender.vocabulary`, learned with the
model) and the follow-up grammar's moods, eras and filters
(`recommender.followups.grammar`). So a description is a list of refinements with no
song: `!refine`, `!more`, `!like 3` and `!why 2` work on its answer as on any other.

How it is answered, from the whole catalogue through the one ranking function:
- kinds of music ("neo soul") and filters ("90s", "no remixes") are candidate masks;
- moods ("chill") keep songs past the mood's level in the grammar (energy below 0.45;
  "even chiller" one step further) and re-score them with the same pull as a critique;
- the starting point is the model's: the mean direction of the songs the words name, so
  the songs most typical of that region come first (plus the model's popularity prior),
  spread over artists as every answer is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from recommender.explain import match_text
from recommender.followups.constraints import (
    CRITIQUE_PULL,
    PAGE_SIZE,
    PULL_STEPS,
    Answer,
    Constraint,
    feature_text,
    filter_constraint,
    genre_constraint,
)
from recommender.followups.grammar import (
    CRITIQUES,
    SONG_RELATIVE,
    Refinement,
    combine,
    parse_refinements,
    split_request,
)
from recommender.ranking import ArtistCap
from recommender.recommender import Recommender

# "upbeat songs like Dua Lipa", "something like Juicy but from the 2010s"
_LIKE = re.compile(
    r"^(?P<words>.*?)\b(?:songs?|music|tracks?|something|stuff|anything)\s+"
    r"(?:like|similar\s+to)\s+(?P<seed>\S.*)$",
    re.IGNORECASE,
)
_FEATURE_NAMES = {"instrumentalness": "instrumental", "speechiness": "speech"}


@dataclass(frozen=True)
class Description:
    """What a request said in words. `seed`: the song or artist it named ("songs like
    Juicy but from the 2010s"), None for words alone; `refinements`: the words, as the
    follow-up grammar reads them; `unknown`: words inline after a seed not understood."""

    refinements: list[Refinement]
    seed: str | None = None
    unknown: list[str] = field(default_factory=list)


def read(rec: Recommender, text: str) -> Description | None:
    """`text` as a description, or None when it is not one (a song's title, say).

    Words alone are a description when every word is understood and one names what to
    play (a kind of music, a mood, an era, popular/deep cuts...): "older" or "other
    artists" alone compare with a song there is none of. "<words> songs like <song>"
    is a description with a seed."""
    terms = rec.vocabulary.terms
    text = " ".join(text.split())
    if match := _LIKE.match(text):
        lead = parse_refinements(match["words"], terms)
        if lead.unknown:
            return None
        request = split_request(match["seed"], terms)
        return Description(
            [*lead.refinements, *request.refinements], request.song, list(request.unknown)
        )
    parsed = parse_refinements(text, terms)
    if parsed.unknown or not any(
        r.name not in SONG_RELATIVE and r.name != "reset" for r in parsed.refinements
    ):
        return None
    return Description(list(parsed.refinements))


# -- moods without a song ---------------------------------------------------------------------
def mood_constraint(rec: Recommender, refinement: Refinement) -> Constraint:
    """A mood with no song to compare with: past the grammar's level for it."""
    critique = CRITIQUES[refinement.name]
    values = rec.index.features[critique.feature]
    bound = critique.level + critique.direction * critique.step * (refinement.steps - 1)
    beyond = critique.direction * (values - bound)
    mask = np.nan_to_num(beyond, nan=-1.0) > 0
    side = "above" if critique.direction > 0 else "below"
    name = _FEATURE_NAMES.get(critique.feature, critique.feature)
    text = f"{critique.mood} ({name} {side} {feature_text(critique.feature, bound)})"
    if refinement.steps > 1:
        text = f"{'very ' * min(refinement.steps - 1, 2)}{text}"
    pull = CRITIQUE_PULL * np.clip(
        np.nan_to_num(beyond, nan=0.0) / (critique.step * PULL_STEPS), 0.0, 1.0
    )
    impossible = "" if mask.any() else f"no song here is {critique.mood}"
    return Constraint(text, mask, impossible, pull)


def constraints(rec: Recommender, refinements: Iterable[Refinement]) -> list[Constraint]:
    """Each refinement of a description as a mask (and a pull), in the order said."""
    made: list[Constraint] = []
    every_row = np.arange(len(rec.index))
    for refinement in refinements:
        if refinement.name == "reset":
            continue
        if refinement.name in SONG_RELATIVE:
            word = refinement.name.replace("_", " ")
            made.append(
                Constraint(
                    f"“{word}” left out: there is no song to compare with",
                    np.ones(len(rec.index), dtype=bool),
                )
            )
        elif refinement.group == "genre":
            made.append(genre_constraint(rec, refinement))
        elif refinement.is_critique:
            made.append(mood_constraint(rec, refinement))
        else:
            made.append(filter_constraint(rec.index, every_row, [], refinement, ""))
            if refinement.name in {"years", "not_years"}:
                made[-1] = replace(made[-1], text=_era(refinement))
    return made


def _era(refinement: Refinement) -> str:
    """ "1990–1999", "before 2000", "since 2015", "not 1980–1989"."""
    low, high = refinement.low, refinement.high
    if low is not None and high is not None:
        span = f"{low}" if low == high else f"{low}–{high}"
    elif high is not None:
        span = f"before {high + 1}"
    else:
        span = f"since {low}"
    return f"not {span}" if refinement.name == "not_years" else span


def understood(rec: Recommender, refinements: Sequence[Refinement]) -> str:
    """ "neo soul · chill (energy below 0.45) · only 1990–1999 releases"."""
    return " · ".join(c.text for c in constraints(rec, refinements))


def recommend(
    rec: Recommender,
    refinements: Sequence[Refinement],
    k: int = PAGE_SIZE,
    exclude: Iterable[str] = (),
    continuing: bool = False,
    artist_cap: ArtistCap | None = None,
) -> Answer:
    """Up to k songs that fit the words, best first; never those in `exclude`."""
    refinements = combine([], refinements)
    made = constraints(rec, refinements)
    size = len(rec.index)
    candidates = np.ones(size, dtype=bool)
    pull = np.zeros(size, dtype=np.float64)
    for constraint in made:
        candidates &= constraint.mask
        pull += constraint.pull
    # The model's point for the region the words name: the mean direction of the songs
    # that pass them (all songs named by them when none pass, so the note can say so).
    region = candidates
    if not region.any():
        named = [c.mask for c, r in zip(made, refinements, strict=False) if r.name == "genre"]
        region = np.logical_and.reduce(named) if named else np.ones(size, dtype=bool)
    if not region.any():
        region = np.ones(size, dtype=bool)
    centre = np.asarray(rec.embeddings[region].mean(axis=0), dtype=np.float32)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    scores = rec.with_prior(rec.embeddings @ centre)
    rescored = scores + pull
    shown = [rec.index.row_of[t] for t in exclude if t in rec.index.row_of]
    listed = rec.rank(rescored, k, exclude=shown, candidates=candidates, artist_cap=artist_cap)
    picks = rec.picks(listed, rescored)
    words = " · ".join(c.text for c in made)
    note = ""
    if len(picks) < k:
        left = ("No" if not picks else f"Only {len(picks)}") + (" more" if continuing else "")
        impossible = "; ".join(c.impossible for c in made if c.impossible)
        note = f"{left} songs in the catalogue fit {words}" + (
            f" ({impossible})." if impossible else "."
        )
    return Answer([], picks, [c.text for c in made], note, understood=words)


def explain(
    rec: Recommender,
    refinements: Sequence[Refinement],
    pick_id: str,
    match: float | None = None,
    escape: Callable[[str], str] = lambda text: text,
) -> str:
    """Why a pick fits the words: which of its playlists carry them, its sound and year."""
    pick = rec.track(pick_id)
    row = rec.row(pick_id)
    graph = rec.index.playlists
    reasons: list[str] = []
    for refinement in combine([], refinements):
        if refinement.name != "genre" or refinement.term is None:
            continue
        term = refinement.term
        inside = rec.term_rows.mask(term)
        if not inside[row]:
            continue
        names = sorted(
            {graph.names[p] for p in graph.playlists_of[row]},
            key=lambda n: (term not in n.casefold(), n),
        )
        quoted = ", ".join(f"“{escape(n)}”" for n in names[:2])
        reasons.append(f"{rec.vocabulary.shown(term)}: on {quoted}" if quoted else term)
    for refinement in combine([], refinements):
        if refinement.is_critique:
            critique = CRITIQUES[refinement.name]
            value = float(rec.index.features[critique.feature][row])
            name = _FEATURE_NAMES.get(critique.feature, critique.feature)
            reasons.append(f"{critique.mood}: {name} {feature_text(critique.feature, value)}")
    if pick.release_year and any(r.group == "years" for r in refinements):
        reasons.append(f"released {pick.release_year}")
    if not reasons:
        reasons.append("the closest to the songs these words name")
    ending = f" {match_text(match)}." if match is not None else ""
    return (
        f"*{escape(pick.name)}* by {escape(pick.artist)}, for "
        f"{escape(understood(rec, refinements))}: " + "; ".join(reasons) + "." + ending
    )


ERAS = ("60s", "70s", "80s", "90s", "2000s", "2010s", "before 2000", "since 2015")


def suggestions(rec: Recommender, text: str, limit: int = 5) -> list[tuple[str, str]]:
    """(request, what kind of words) that finish what is being typed, for autocomplete:
    the catalog's genres first, then moods, eras and playlist words. "chill ne" offers
    "chill neo soul"; every offer reads as a description."""
    typed = " ".join(text.casefold().split())
    head, _, last = typed.rpartition(" ")
    vocabulary = rec.vocabulary
    words = [(t, "genre" if vocabulary.is_label(t) else "playlists") for t in vocabulary.ordered()]
    words[len(vocabulary.labels()) : len(vocabulary.labels())] = [
        *((c.mood, "mood") for c in CRITIQUES.values()),
        *((era, "era") for era in ERAS),
    ]
    offers: list[tuple[str, str]] = []
    for candidate, kind in words:
        if len(offers) == limit:
            break
        for lead, rest in ((head, last), ("", typed)):
            if rest and not candidate.startswith(rest):
                continue
            offer = f"{lead} {candidate}".strip()
            if offer in (o for o, _ in offers) or len(offer) > 100:
                continue
            if read(rec, offer) is not None:
                offers.append((offer, kind))
                break
    return offers


__all__ = [
    "Description",
    "explain",
    "mood_constraint",
    "read",
    "recommend",
    "suggestions",
    "understood",
]
