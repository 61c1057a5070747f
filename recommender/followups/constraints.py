"""How refinements move an answer: filters as candidate masks, critiques as a re-score.

Every refined answer searches the whole catalogue through the one ranking function
(`Recommender.rank`): a filter ("no remixes", "90s", "other artists") is a candidate
mask, so an answer is never empty while the catalogue holds songs that pass; a critique
("calmer", "more instrumental") keeps only songs past the query song in its direction
and re-scores them, similarity plus a small pull (at most `CRITIQUE_PULL`) for going
further that way. When few songs close to the query pass, the answer comes from further
away and says how far: its mean similarity against the usual answer's.

Critiques are relative to the query song and to the unconstrained answer: "calmer" keeps
songs whose energy is below the lower of the two (bad guy's 0.42, or its neighbours'
average if they are calmer still), so the answer is calmer than both what was asked for
and what was shown ("calmer than *bad guy*: energy < 0.42"). "More instrumental" is
likewise "more instrumental than this song", not a fixed threshold. Saying a critique
again ("even calmer", or "calmer" twice) moves the bound one step further (0.1 of a 0–1
feature, 10 BPM); the opposite critique replaces it.

The answer keeps the artist spread it is given (`artist_cap`), except under "same
artist" ("more from this artist"), which asks for the artist's own songs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from recommender.artists import own_songs_cap
from recommender.catalog_index import CatalogIndex
from recommender.followups.grammar import CRITIQUES, Refinement
from recommender.ranking import ArtistCap, Ranked
from recommender.recommender import Recommender, TrackResult

PAGE_SIZE = 10
# A critiqued song gains up to this much (cosine) for how far past the bound it goes,
# reached at `PULL_STEPS` steps past it: among equally similar songs, the clearly
# calmer one wins over the barely calmer one.
CRITIQUE_PULL = 0.1
PULL_STEPS = 5
# Below this share of the usual answer's similarity, the answer says how far it moved.
FAR_SIMILARITY_RATIO = 0.8
POPULAR_AT_LEAST = 60  # roughly the catalog's top quarter
DEEP_CUTS_AT_MOST = 30  # roughly its bottom third


@dataclass(frozen=True)
class Answer:
    """One refined list: the picks, what was applied, and a note when fewer than asked
    or further from the query than usual (`usual_similarity`: the unrefined answer's)."""

    query: list[TrackResult]
    picks: list[TrackResult]
    applied: list[str]
    note: str = ""
    unknown: list[str] = field(default_factory=list)
    usual_similarity: float = 0.0
    artist: str = ""  # an answer about an artist: their name (`query` is their best known)
    # For a description (no query song): what was understood, "neo soul · chill (…)".
    understood: str = ""

    @property
    def summary(self) -> str:
        """'calmer than *bad guy*: energy < 0.38; remixes removed' (empty if nothing applied)."""
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
class Constraint:
    text: str
    mask: np.ndarray  # over every catalogue row
    impossible: str = ""  # why nothing can pass, for the note
    pull: np.ndarray | float = 0.0  # a critique's re-score, per row


def feature_text(feature: str, value: float) -> str:
    return f"{value:.0f} BPM" if feature == "tempo" else f"{value:.2f}"


def _critique(
    index: CatalogIndex,
    seeds: list[int],
    refinement: Refinement,
    label: str,
    first_page: np.ndarray,
) -> Constraint:
    """Songs past both the query song and the unconstrained list's average.

    Past the query because people ask for "calmer than *bad guy*"; past the list too,
    because people judge "calmer" against the list they just saw: if bad guy's neighbours
    are already calmer than bad guy, "calmer" must go below them as well.
    """
    critique = CRITIQUES[refinement.name]
    values = index.features[critique.feature]
    query_value = float(values[seeds].mean())
    name = critique.feature
    list_value = float(values[first_page].mean()) if len(first_page) else query_value
    pick = max if critique.direction > 0 else min
    start = pick(query_value, list_value)
    bound = start + critique.direction * critique.step * (refinement.steps - 1)
    prefix = f"{critique.words} than {label}"
    if start != query_value:
        prefix += " and its usual matches"
    beyond = critique.direction * (values - bound)
    mask = beyond > 0
    sign = ">" if critique.direction > 0 else "<"
    text = f"{prefix}: {name} {sign} {feature_text(critique.feature, bound)}"
    impossible = ""
    if not mask.any():
        impossible = (
            f"{label} is already about as far as it goes ({name} "
            f"{feature_text(critique.feature, query_value)})"
        )
    pull = CRITIQUE_PULL * np.clip(beyond / (critique.step * PULL_STEPS), 0.0, 1.0)
    return Constraint(text, mask, impossible, pull)


def _years_text(low: int | None, high: int | None, exclude: bool) -> str:
    if low is not None and high is not None:
        span = f"{low}" if low == high else f"{low}–{high}"
        return f"no {span} releases" if exclude else f"only {span} releases"
    if high is not None:
        return f"released before {high + 1}"
    return f"released after {(low or 0) - 1}"


def filter_constraint(
    index: CatalogIndex,
    rows: np.ndarray,
    seeds: list[int],
    refinement: Refinement,
    label: str,
) -> Constraint:
    name = refinement.name
    if name in {"no_remix", "only_remix"}:
        hit = index.remix[rows]
        return Constraint(
            "remixes removed" if name == "no_remix" else "only remixes",
            ~hit if name == "no_remix" else hit,
        )
    if name in {"no_live", "only_live"}:
        hit = index.live[rows]
        return Constraint(
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
            return Constraint(f"other artists than {shown}", ~by_them)
        return Constraint(f"only {shown}", by_them)
    popularity = index.popularity[rows]
    if name == "popular":
        return Constraint(
            f"popular: popularity ≥ {POPULAR_AT_LEAST}", popularity >= POPULAR_AT_LEAST
        )
    if name == "deep_cuts":
        return Constraint(
            f"deep cuts: popularity ≤ {DEEP_CUTS_AT_MOST}", popularity <= DEEP_CUTS_AT_MOST
        )
    years = index.years[rows]
    known = years > 0
    if name in {"older", "newer"}:
        query_year = int(np.median(index.years[seeds]))
        if query_year <= 0:
            return Constraint(f"{name} ({label} has no release year)", np.zeros(len(rows), bool))
        if name == "older":
            return Constraint(
                f"older than {label}: released before {query_year}",
                known & (years < query_year),
            )
        return Constraint(
            f"newer than {label}: released after {query_year}", known & (years > query_year)
        )
    low = refinement.low if refinement.low is not None else -(10**9)
    high = refinement.high if refinement.high is not None else 10**9
    inside = known & (years >= low) & (years <= high)
    exclude = name == "not_years"
    text = _years_text(refinement.low, refinement.high, exclude)
    return Constraint(text, (known & ~inside) if exclude else inside)


def genre_constraint(rec: Recommender, refinement: Refinement) -> Constraint:
    """A kind of music the catalog's playlists name ("neo soul"): the songs of those
    playlists, or ("no trap") every other song."""
    inside = rec.term_rows.mask(refinement.term or "")
    shown = rec.vocabulary.shown(refinement.term or "")
    if refinement.name == "not_genre":
        return Constraint(f"no {shown}", ~inside)
    return Constraint(shown, inside, "" if inside.any() else f"no song here is {shown}")


def recommend(
    rec: Recommender,
    seeds: Sequence[str],
    refinements: Sequence[Refinement] = (),
    k: int = PAGE_SIZE,
    exclude: Iterable[str] = (),
    continuing: bool = False,
    artist_cap: ArtistCap | None = None,
    artist: str = "",
) -> Answer:
    """Up to k songs like the seeds that pass every refinement, best first.

    `exclude` (already shown, earlier seeds) and other versions of them never come back.
    Fewer than k only when fewer in the whole catalogue pass; the note then says so.
    `artist`: the seeds are that artist's songs (`Recommender.artist_seeds`), and the
    answer is songs like the artist: a few of their own songs may come back
    (`own_songs_cap`), the seeds are not shut out as a song's are.
    """
    index = rec.index
    seed_rows = rec.rows(seeds)
    if not seed_rows:
        raise ValueError("at least one seed track is required")
    query = [rec.result(r, 1.0) for r in (seed_rows[:1] if artist else seed_rows)]
    label = f"*{artist}*" if artist else " + ".join(f"*{t.name}*" for t in query)
    scores = rec.scores_for_rows(seed_rows)
    shown = [index.row_of[t] for t in exclude if t in index.row_of]
    banned = shown if artist else [*seed_rows, *shown]
    if artist:
        artist_cap = own_songs_cap(artist_cap, k)
    # The artist spread, unless the member asked for the artist's own songs.
    if any(r.name == "same_artist" for r in refinements):
        artist_cap = None

    def ranked_list(
        values: np.ndarray, count: int, *, avoid: list[int], mask: np.ndarray | None = None
    ) -> Ranked:
        return rec.rank(
            values, count, exclude=avoid, candidates=mask, artist_cap=artist_cap, query=seed_rows
        )

    def ranked(values: np.ndarray, count: int, *, avoid: list[int]) -> np.ndarray:
        return ranked_list(values, count, avoid=avoid).rows

    # What this page would be without refinements: critiques go past its average, and a
    # refined page far less similar than it says so.
    first_page = ranked(scores, k, avoid=[] if artist else seed_rows)
    usual = ranked(scores, k, avoid=banned) if shown else first_page

    applied: list[str] = []
    impossible: list[str] = []
    candidates = np.ones(len(index), dtype=bool)
    rescored = scores.copy()
    every_row = np.arange(len(index))
    for refinement in refinements:
        if refinement.name == "reset":
            continue
        if refinement.is_critique:
            constraint = _critique(index, seed_rows, refinement, label, first_page)
            rescored = rescored + constraint.pull
        elif refinement.group == "genre":
            constraint = genre_constraint(rec, refinement)
        else:
            constraint = filter_constraint(index, every_row, seed_rows, refinement, label)
        candidates &= constraint.mask
        applied.append(constraint.text)
        if constraint.impossible:
            impossible.append(constraint.impossible)
    listed = ranked_list(rescored, k, avoid=banned, mask=candidates if applied else None)
    chosen = listed.rows
    # The model's score for each pick; what a member reads counts the refinements' pull.
    picks = [
        replace(pick, score=round(float(scores[pick_row]), 4))
        for pick, pick_row in zip(rec.picks(listed, rescored), chosen.tolist(), strict=True)
    ]
    usual_similarity = float(scores[usual].mean()) if len(usual) else 0.0
    similarity = float(scores[chosen].mean()) if len(chosen) else 0.0

    note = ""
    if len(picks) < k:
        left = ("No" if not picks else f"Only {len(picks)}") + (" more" if continuing else "")
        if applied:
            note = (
                f"{left} songs in the catalogue pass these refinements"
                + (f" ({'; '.join(impossible)})" if impossible else "")
                + "."
            )
        else:
            note = f"{left} songs close enough to {label}" + (
                "; that's all of them." if continuing else "."
            )
    elif applied and similarity < FAR_SIMILARITY_RATIO * usual_similarity:
        note = (
            f"Few songs close to {label} pass these refinements, so these are further "
            f"from it: similarity {similarity:.2f} against {usual_similarity:.2f} usually."
        )
    return Answer(query, picks, applied, note, usual_similarity=usual_similarity, artist=artist)


__all__ = [
    "Answer",
    "Constraint",
    "feature_text",
    "filter_constraint",
    "genre_constraint",
    "recommend",
]
