"""Group picks: songs for several seeds at once, spread over artists (MMR re-rank).

A listening session has songs from several people. The plain answer for their mean
direction (`Recommender.recommend_for_tracks`) often stacks one artist or one corner of
the group's taste; the group wants variety. So the candidates (the mean direction's top
songs, plus each seed's own top songs so every listener is represented) are re-ranked by
maximal marginal relevance: relevance to the group minus similarity to what is already
picked, with a hard cap per artist. Each pick also names the seed it is closest to, so
the bot can say whose song it follows from. No Discord here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from recommender.playlist_walk import PlaylistWalk
from recommender.ranking import top_k
from recommender.recommender import Recommender, TrackResult

# How much relevance counts against novelty (1.0 = plain top-k, 0.0 = only variety).
DEFAULT_LAMBDA = 0.75
# Extra penalty per already-picked song by the same artist (on top of the hard cap).
ARTIST_PENALTY = 0.15
# Penalty per already-picked song that follows from the same seed, so every listener's
# songs get their turn instead of the one closest to the group's mean.
SEED_PENALTY = 0.05


@dataclass(frozen=True)
class GroupPick:
    """One pick for the group and the seed (session song) it is closest to."""

    track: TrackResult
    closest_seed: str  # the seed that scores it best (with that seed's walk, on a walk model)
    closest_similarity: float  # the embeddings' cosine to that seed


# Seeds scored per matrix product: 64 columns of catalog scores stay a few megabytes.
SEED_CHUNK = 64


def max_per_artist(k: int) -> int:
    """At most a third of the picks (at least one) by any one artist."""
    return max(1, math.ceil(k / 3))


def group_picks(
    model: Recommender,
    seeds: Sequence[str],
    k: int = 5,
    exclude: Iterable[str] = (),
    *,
    lam: float = DEFAULT_LAMBDA,
    pool_size: int | None = None,
) -> list[GroupPick]:
    """k picks for all `seeds` together: never a seed or an excluded song (nor another
    version of one), one version per song, artists spread.

    Seeds not in the model are ignored; with no known seed the answer is empty.
    """
    known = [s for s in dict.fromkeys(seeds) if s in model]
    if not known or k <= 0:
        return []
    seed_rows = model.rows(known)
    banned = [*seed_rows, *(model.row(t) for t in exclude if t in model)]
    pool_size = pool_size or max(40, 8 * k)
    group_scores = model.scores_for_rows(seed_rows)
    # The group's top songs, then each seed's own so every listener is represented.
    pool = dict.fromkeys(model.rank(group_scores, pool_size, exclude=banned).rows.tolist())
    per_seed = max(k, pool_size // max(len(known), 1) // 2)
    # Each seed's own scores come from one matrix product per chunk of seeds: a big
    # session's seeds read the catalog's vectors once per chunk, not once per seed.
    walks: list[tuple[np.ndarray, np.ndarray]] = []  # each seed's walk, on a walk model
    for start in range(0, len(seed_rows), SEED_CHUNK):
        chunk = seed_rows[start : start + SEED_CHUNK]
        cosines = model.cosines(model.embeddings[chunk])
        for column, row in enumerate(chunk):
            scores = model.with_prior(cosines[:, column])
            if model.walk is not None:
                walks.append(model.walk.reached([row]))
                scores = model.with_walk(scores, [row], walks[-1])
            own = model.rank(scores, per_seed, exclude=banned)
            pool.update(dict.fromkeys(own.rows.tolist()))
    candidates = list(pool)
    if not candidates:
        return []

    vectors = model.embeddings[candidates]
    to_seeds = vectors @ model.embeddings[seed_rows].T  # (candidates, seeds) cosine
    # How each seed alone scores each candidate, as its own answer would (a model with a
    # playlist walk also counts the songs that share playlists with that seed).
    by_seed = to_seeds.copy()
    rows = np.asarray(candidates, dtype=np.int64)
    for column, walked in enumerate(walks):
        by_seed[:, column] += model.walk_weight * PlaylistWalk.lookup(walked, rows)
    # Half the group's mean direction, half the closest seed: a song that fits one
    # listener's pick very well still counts when the group's tastes differ. Divided back
    # to a cosine's scale (the walk adds up to its weight), so the spread's penalties
    # weigh as much on a walk model: else one playlist holding most seeds takes every pick.
    relevance = 0.5 * group_scores[candidates] + 0.5 * by_seed.max(axis=1)
    relevance /= 1.0 + (model.walk_weight if model.walk is not None else 0.0)

    nearest_seed = np.argmax(by_seed, axis=1)
    index = model.index
    chosen = _mmr(
        index.song_codes[candidates],
        np.unique(index.artist_codes[candidates], return_inverse=True)[1],
        nearest_seed,
        relevance,
        vectors,
        k,
        lam,
        max_per_artist(k),
    )
    picks = []
    for position in chosen:
        nearest = int(nearest_seed[position])
        picks.append(
            GroupPick(
                track=model.result(candidates[position], float(relevance[position])),
                closest_seed=known[nearest],
                closest_similarity=round(float(to_seeds[position, nearest]), 4),
            )
        )
    return picks


def _mmr(
    songs: np.ndarray,
    artists: np.ndarray,
    seeds: np.ndarray,
    relevance: np.ndarray,
    vectors: np.ndarray,
    k: int,
    lam: float,
    cap: int,
) -> list[int]:
    """Greedy MMR with an artist cap; the cap is relaxed only when nothing else is left.

    Each step takes the best value through `ranking.top_k`, so a chosen song's other
    versions are out for the rest of the list.
    """
    chosen: list[int] = []
    per_artist = np.zeros(int(artists.max()) + 1, dtype=np.float32)
    per_seed = np.zeros(int(seeds.max()) + 1, dtype=np.float32)
    max_sim = np.full(len(songs), -1.0, dtype=np.float32)
    for _ in range(min(k, len(songs))):
        penalty = per_artist[artists]
        novelty = np.where(max_sim > -1.0, max_sim, 0.0)
        value = (
            lam * relevance
            - (1 - lam) * novelty
            - ARTIST_PENALTY * penalty
            - SEED_PENALTY * per_seed[seeds]
        )
        best = top_k(value, 1, songs=songs, exclude=chosen, candidates=penalty < cap)
        if not len(best):
            best = top_k(value, 1, songs=songs, exclude=chosen)
        if not len(best):
            break
        pick = int(best.rows[0])
        chosen.append(pick)
        per_artist[artists[pick]] += 1
        per_seed[seeds[pick]] += 1
        max_sim = np.maximum(max_sim, vectors @ vectors[pick])
    return chosen
