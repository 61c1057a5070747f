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
    closest_seed: str
    closest_similarity: float


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
    """k picks for all `seeds` together: never a seed or an excluded song, artists spread.

    Seeds not in the model are ignored; with no known seed the answer is empty.
    """
    known = [s for s in dict.fromkeys(seeds) if s in model]
    if not known or k <= 0:
        return []
    banned = set(exclude) | set(known)
    pool_size = pool_size or max(40, 8 * k)
    candidates: dict[str, TrackResult] = {
        t.track_id: t for t in model.recommend_for_tracks(known, k=pool_size, exclude=banned)
    }
    per_seed = max(k, pool_size // max(len(known), 1) // 2)
    for seed in known:
        for track in model.recommend_for_tracks([seed], k=per_seed, exclude=banned):
            candidates.setdefault(track.track_id, track)
    if not candidates:
        return []

    ids = list(candidates)
    rows = [model.row(t) for t in ids]
    vectors = model.embeddings[rows]
    seed_vectors = model.embeddings[[model.row(s) for s in known]]
    to_seeds = vectors @ seed_vectors.T  # (candidates, seeds) cosine
    # Half the group's mean direction, half the closest seed: a song that fits one
    # listener's pick very well still counts when the group's tastes differ.
    relevance = 0.5 * model.scores_for_tracks(known)[rows] + 0.5 * to_seeds.max(axis=1)

    nearest_seed = np.argmax(to_seeds, axis=1)
    chosen = _mmr(
        [candidates[t].artist.casefold() for t in ids],
        nearest_seed,
        relevance,
        vectors,
        k,
        lam,
        max_per_artist(k),
    )
    picks = []
    for index in chosen:
        nearest = int(nearest_seed[index])
        track = candidates[ids[index]]
        picks.append(
            GroupPick(
                track=model.track(track.track_id, float(relevance[index])),
                closest_seed=known[nearest],
                closest_similarity=round(float(to_seeds[index, nearest]), 4),
            )
        )
    return picks


def _mmr(
    artists: list[str],
    seeds: np.ndarray,
    relevance: np.ndarray,
    vectors: np.ndarray,
    k: int,
    lam: float,
    cap: int,
) -> list[int]:
    """Greedy MMR with an artist cap; the cap is relaxed only when nothing else is left."""
    chosen: list[int] = []
    per_artist: dict[str, int] = {}
    per_seed = np.zeros(int(seeds.max()) + 1, dtype=np.float32)
    max_sim = np.full(len(artists), -1.0, dtype=np.float32)
    available = np.ones(len(artists), dtype=bool)
    for _ in range(min(k, len(artists))):
        penalty = np.array([per_artist.get(a, 0) for a in artists], dtype=np.float32)
        novelty = np.where(max_sim > -1.0, max_sim, 0.0)
        value = (
            lam * relevance
            - (1 - lam) * novelty
            - ARTIST_PENALTY * penalty
            - SEED_PENALTY * per_seed[seeds]
        )
        capped = penalty >= cap
        allowed = available & ~capped
        if not allowed.any():
            allowed = available
        if not allowed.any():
            break
        value = np.where(allowed, value, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        per_artist[artists[best]] = per_artist.get(artists[best], 0) + 1
        per_seed[seeds[best]] += 1
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return chosen
