"""Ranking over an ANN index's candidates instead of every row: a big model's index
proposes the nearest songs, the playlist walk's best join them, and `top_k` ranks them
as exact search would. `Recommender.recommend_for_tracks` asks here first."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

import numpy as np

from recommender.ann import AnnIndex
from recommender.playlist_walk import PlaylistWalk
from recommender.ranking import ArtistCap, Ranked

# Past this many candidates from the index, a question that exclusions and the artist
# cap keep starving is answered by exact search instead.
ANN_MAX_CANDIDATES = 4096


class NearestModel(Protocol):
    """What ranking an index's candidates needs of a model (a `Recommender`)."""

    embeddings: np.ndarray
    ann: AnnIndex | None
    walk: PlaylistWalk | None
    walk_weight: float

    def __len__(self) -> int: ...

    def query_vector(self, rows: Sequence[int]) -> np.ndarray: ...

    def with_prior(self, cosines: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray: ...

    def rank(
        self,
        scores: np.ndarray,
        k: int,
        *,
        exclude: Collection[int] = (),
        candidates: np.ndarray | None = None,
        artist_cap: ArtistCap | None = None,
        query: Sequence[int] = (),
        rows: np.ndarray | None = None,
    ) -> Ranked: ...


def rank_nearest(
    model: NearestModel, rows: list[int], k: int, excluded: list[int], artist_cap: ArtistCap | None
) -> Ranked | None:
    """`rank` over the index's nearest candidates, fetching more while exclusions, one
    version per song or the artist cap leave fewer than k; None: search every row."""
    assert model.ann is not None
    query = model.query_vector(rows)
    wanted = max(64, 4 * k + 2 * len(excluded))
    walked = model.walk.reached(rows) if model.walk is not None else None
    while wanted <= ANN_MAX_CANDIDATES:
        found, cosines = model.ann.search(query, min(wanted, len(model)))
        scores = model.with_prior(cosines, found)
        if walked is not None:  # the walk's best songs are candidates too
            found, scores = _with_walk(model, query, found, scores, walked, wanted)
        ranked = model.rank(
            scores,
            k,
            rows=found,
            exclude=excluded,
            artist_cap=artist_cap,
            query=rows,
        )
        if len(ranked) == k or len(found) < wanted:
            return ranked
        wanted *= 4
    return None


def _with_walk(
    model: NearestModel,
    query: np.ndarray,
    found: np.ndarray,
    scores: np.ndarray,
    walked: tuple[np.ndarray, np.ndarray],
    wanted: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The index's candidates plus the walk's `wanted` best songs, each scored as
    `scores_for_rows` scores it (cosine, prior, and the walk)."""
    songs, walk = walked  # in row order
    # The walk's best by the whole score: every song at or above the walk score of
    # the 4*wanted-th (ties included, so a long playlist's equal songs are ranked by
    # cosine and prior as exact search ranks them), then the top `wanted` of those.
    pool = np.arange(len(songs))
    if len(songs) > 4 * wanted:
        cutoff = np.partition(walk, len(walk) - 4 * wanted)[len(walk) - 4 * wanted]
        pool = np.flatnonzero(walk >= cutoff)
    full = model.with_prior(model.embeddings[songs[pool]] @ query, songs[pool])
    full = full + model.walk_weight * walk[pool]
    if len(pool) > wanted:
        pool = pool[np.argpartition(-full, wanted - 1)[:wanted]]
    best = songs[pool]
    extra = np.setdiff1d(best, found)
    rows = np.concatenate([found, extra]).astype(np.int64)
    base = np.concatenate([scores, model.with_prior(model.embeddings[extra] @ query, extra)])
    bonus = PlaylistWalk.lookup(walked, rows)
    return rows, (base + model.walk_weight * bonus).astype(np.float32)
