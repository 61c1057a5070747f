"""How refinements move an answer: critiques and filters become masks over a pool.

The pool is the `POOL_SIZE` songs closest to the query by cosine (the query and other
versions of it excluded, one version per song). Every refinement is a hard constraint on
that pool, and what survives is ranked by similarity alone (`Recommender.rank`, the one
ranking function), so a refined answer is never padded with weak picks: if fewer than 10
songs pass, the answer says so and shows fewer. Under a critique the answer's mean
similarity must also stay within `MIN_SIMILARITY_RATIO` of the same page without the
critiques; the weakest picks are dropped until it does.

Critiques are relative to the query song and to the unconstrained answer: "calmer" keeps
songs whose energy is at most the lower of the two (bad guy's 0.42, or its neighbours'
average if they are calmer still), so the answer is calmer than both what was asked for
and what was shown ("calmer than *bad guy*: energy ≤ 0.42"). Saying a critique again
("even calmer", or "calmer" twice) moves the bound one step further (0.1 of a 0–1
feature, 10 BPM); the opposite critique replaces it. "instrumental" is absolute
(instrumentalness ≥ 0.5, Spotify's own threshold).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender.catalog_index import CatalogIndex
from recommender.followups.grammar import CRITIQUES, Refinement
from recommender.recommender import Recommender, TrackResult

PAGE_SIZE = 10
POOL_SIZE = 500  # songs around the query that refinements choose from
MIN_SIMILARITY_RATIO = 0.8  # a critiqued answer's mean similarity vs the filtered best
POPULAR_AT_LEAST = 60  # roughly the catalog's top quarter
DEEP_CUTS_AT_MOST = 30  # roughly its bottom third


@dataclass(frozen=True)
class Answer:
    """One refined list: the picks, what was applied, and a note when fewer than asked."""

    query: list[TrackResult]
    picks: list[TrackResult]
    applied: list[str]
    note: str = ""
    unknown: list[str] = field(default_factory=list)

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
    mask: np.ndarray  # over the pool's rows
    impossible: str = ""  # why nothing can pass, for the note


def _fmt(feature: str, value: float) -> str:
    return f"{value:.0f} BPM" if feature == "tempo" else f"{value:.2f}"


def _critique(
    index: CatalogIndex,
    rows: np.ndarray,
    seeds: list[int],
    refinement: Refinement,
    label: str,
    first_page: np.ndarray,
) -> _Constraint:
    """A bound past both the query song and the unconstrained list's average.

    Past the query because people ask for "calmer than *bad guy*"; past the list too,
    because people judge "calmer" against the list they just saw: if bad guy's neighbours
    are already calmer than bad guy, "calmer" must go below them as well.
    """
    critique = CRITIQUES[refinement.name]
    values = index.features[critique.feature]
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
    index: CatalogIndex,
    rows: np.ndarray,
    seeds: list[int],
    refinement: Refinement,
    label: str,
) -> _Constraint:
    name = refinement.name
    if name in {"no_remix", "only_remix"}:
        hit = index.remix[rows]
        return _Constraint(
            "remixes removed" if name == "no_remix" else "only remixes",
            ~hit if name == "no_remix" else hit,
        )
    if name in {"no_live", "only_live"}:
        hit = index.live[rows]
        return _Constraint(
            "live versions removed" if name == "no_live" else "only live versions",
            ~hit if name == "no_live" else hit,
        )
    if name in {"other_artists", "same_artist"}:
        artists = list(dict.fromkeys(index.artists[s] for s in seeds))
        shown = ", ".join(dict.fromkeys(index.artist_names[s] for s in seeds))
        by_them = np.zeros(len(rows), dtype=bool)
        for artist in artists:
            by_them |= index.mentions(rows, artist)
        if name == "other_artists":
            return _Constraint(f"other artists than {shown}", ~by_them)
        return _Constraint(f"only {shown}", by_them)
    popularity = index.popularity[rows]
    if name == "popular":
        return _Constraint(
            f"popular: popularity ≥ {POPULAR_AT_LEAST}", popularity >= POPULAR_AT_LEAST
        )
    if name == "deep_cuts":
        return _Constraint(
            f"deep cuts: popularity ≤ {DEEP_CUTS_AT_MOST}", popularity <= DEEP_CUTS_AT_MOST
        )
    years = index.years[rows]
    known = years > 0
    if name in {"older", "newer"}:
        query_year = int(np.median(index.years[seeds]))
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
    index = rec.index
    seed_rows = rec.rows(seeds)
    if not seed_rows:
        raise ValueError("at least one seed track is required")
    query = [rec.result(r, 1.0) for r in seed_rows]
    label = " + ".join(f"*{t.name}*" for t in query)
    scores = rec.scores_for_rows(seed_rows)
    pool = rec.rank(scores, pool_size, exclude=seed_rows).rows

    shown = [index.row_of[t] for t in exclude if t in index.row_of]
    # The pool has one version per song, so "not shown" is "its song was not shown".
    not_shown = ~np.isin(index.song_codes[pool], index.song_codes[shown])

    applied: list[str] = []
    impossible: list[str] = []
    filters = np.ones(len(pool), dtype=bool)
    critiques = np.ones(len(pool), dtype=bool)
    has_critique = False
    for refinement in refinements:
        if refinement.name == "reset":
            continue
        if refinement.is_critique:
            constraint = _critique(index, pool, seed_rows, refinement, label, pool[:k])
            critiques &= constraint.mask
            has_critique = True
        else:
            constraint = _filter(index, pool, seed_rows, refinement, label)
            filters &= constraint.mask
        applied.append(constraint.text)
        if constraint.impossible:
            impossible.append(constraint.impossible)
    passing = np.zeros(len(index), dtype=bool)
    passing[pool[filters & critiques]] = True
    chosen = rec.rank(scores, k, exclude=shown, candidates=passing).rows
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
    picks = [rec.result(r, float(scores[r])) for r in chosen.tolist()]

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
    return Answer(query, picks, applied, note)


__all__ = ["Answer", "recommend"]
