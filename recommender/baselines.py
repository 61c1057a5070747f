"""Baselines for `musicbot evaluate`, all answering through the product's code path.

Embedding baselines (audio kNN, LightGCN, ALS) return track embeddings and are wrapped
in a plain `Recommender`, exactly as a trained model is. Scoring baselines (popularity,
audio + same-artist + same-album kNN) cannot be written as one cosine, so they subclass
`Recommender` and only swap how scores are computed; the exclusion of the seeds, their
other versions and repeated songs stays the product's own ranking (`Recommender.rank`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.catalog_index import CatalogIndex
from recommender.data import Catalog
from recommender.features import audio_features
from recommender.recommender import Recommender

# The order of the report table; the new default model goes last.
DEFAULT_ORDER: list[str] = [
    "popularity",
    "audio-knn",
    "audio-artist-album-knn",
    "seed-gcn",
    "lightgcn",
    "als",
    "hetero-lightgcn",
]


class ScoringRecommender(Recommender):
    """A Recommender whose scores come from `score(index, seed_rows)` instead of a cosine."""

    def __init__(
        self,
        catalog: Catalog,
        score: Callable[[CatalogIndex, Sequence[int]], np.ndarray],
        metadata: dict[str, Any],
    ) -> None:
        super().__init__(catalog, np.ones((catalog.num_tracks, 1), dtype=np.float32), metadata)
        self._score = score

    def scores_for_rows(self, rows: Sequence[int]) -> np.ndarray:
        return self._score(self.index, rows)

    def scores_for_queries(self, seed_rows: Sequence[Sequence[int]]) -> np.ndarray:
        return np.stack([self._score(self.index, rows) for rows in seed_rows], axis=1)


# -- scoring baselines --------------------------------------------------------------------
def popularity(catalog: Catalog, **_: Any) -> tuple[Recommender, dict[str, Any]]:
    """Most-listed training tracks first (Spotify popularity breaks ties): the floor."""
    degree = np.bincount(catalog.memberships["track"], minlength=catalog.num_tracks)
    spotify = catalog.tracks["track_popularity"].to_numpy(dtype=np.float64) / 1000.0
    scores = degree + spotify
    return ScoringRecommender(catalog, lambda index, rows: scores, {"model": "popularity"}), {}


def audio_artist_album_knn(
    catalog: Catalog, *, artist_weight: float = 1.0, album_weight: float = 1.0, **_: Any
) -> tuple[Recommender, dict[str, Any]]:
    """Audio cosine plus a bonus per shared artist and album: the content reference."""
    audio = audio_features(catalog.tracks)
    audio /= np.maximum(np.linalg.norm(audio, axis=1, keepdims=True), 1e-12)

    def score(index: CatalogIndex, rows: Sequence[int]) -> np.ndarray:
        rows = list(rows)
        query = audio[rows].mean(axis=0)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        out = audio @ query
        artist, album = index.artist_codes, index.album_codes
        n = len(rows)
        artist_share = np.bincount(artist[rows], minlength=artist.max() + 1) / n
        album_share = np.bincount(album[rows], minlength=album.max() + 1) / n
        return out + artist_weight * artist_share[artist] + album_weight * album_share[album]

    params = {"artist_weight": artist_weight, "album_weight": album_weight}
    return ScoringRecommender(catalog, score, {"model": "audio-artist-album-knn"}), params


# -- embedding baselines ------------------------------------------------------------------
def audio_knn(catalog: Catalog, **_: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Cosine over z-scored audio features: what the sound alone gives."""
    return audio_features(catalog.tracks), {}


def lightgcn(
    catalog: Catalog,
    *,
    seed: int = 0,
    epochs: int = 300,
    dim: int = 64,
    layers: int = 3,
    lr: float = 0.01,
    **_: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """torch_geometric.nn.LightGCN on the playlist–track graph, full-batch BPR.

    ID embeddings only: a track with no training playlist keeps its random start,
    which is why this baseline cannot find cold tracks.
    """
    import torch
    from torch_geometric.nn import LightGCN

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    n, m = catalog.num_tracks, catalog.num_playlists
    tracks = torch.as_tensor(catalog.memberships["track"].to_numpy(), dtype=torch.long)
    playlists = torch.as_tensor(catalog.memberships["playlist"].to_numpy(), dtype=torch.long) + n
    edge_index = torch.cat([torch.stack([tracks, playlists]), torch.stack([playlists, tracks])], 1)
    model = LightGCN(n + m, dim, layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _epoch in range(epochs):
        negatives = torch.randint(0, n, (len(tracks),), generator=generator)
        pairs = torch.cat(
            [torch.stack([playlists, tracks]), torch.stack([playlists, negatives])], dim=1
        )
        optimizer.zero_grad()
        rank = model(edge_index, pairs)
        pos, neg = rank.chunk(2)
        loss = model.recommendation_loss(pos, neg, node_id=pairs.unique())
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        embeddings = model.get_embedding(edge_index)[:n].numpy()
    return embeddings, {"epochs": epochs, "dim": dim, "layers": layers, "lr": lr}


def als(
    catalog: Catalog,
    *,
    seed: int = 0,
    factors: int = 64,
    iterations: int = 15,
    regularization: float = 0.01,
    **_: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
    """implicit's ALS on the playlist × track matrix; item factors are the embeddings."""
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    matrix = sp.csr_matrix(
        (
            np.ones(len(catalog.memberships), dtype=np.float32),
            (catalog.memberships["playlist"], catalog.memberships["track"]),
        ),
        shape=(catalog.num_playlists, catalog.num_tracks),
    )
    model = AlternatingLeastSquares(
        factors=factors,
        iterations=iterations,
        regularization=regularization,
        random_state=seed,
        num_threads=2,
    )
    with threadpool_limits(1, "blas"):
        model.fit(matrix, show_progress=False)
    params = {"factors": factors, "iterations": iterations, "regularization": regularization}
    return np.asarray(model.item_factors), params


EMBEDDING_BASELINES: dict[str, Callable[..., tuple[np.ndarray, dict[str, Any]]]] = {
    "audio-knn": audio_knn,
    "lightgcn": lightgcn,
    "als": als,
}
SCORING_BASELINES: dict[str, Callable[..., tuple[Recommender, dict[str, Any]]]] = {
    "popularity": popularity,
    "audio-artist-album-knn": audio_artist_album_knn,
}


@dataclass(frozen=True)
class Built:
    """A model or baseline trained for evaluation, with its parameters and training time."""

    ranker: Recommender
    params: dict[str, Any]
    train_seconds: float


def build_ranker(name: str, catalog: Catalog, *, seed: int = 0, **options: Any) -> Built:
    """Train `name` on `catalog`.

    Baselines are built here; every other name is a registered trainer
    (`recommender.training.TRAINERS`) and goes through `Recommender.train` unchanged.
    """
    started = time.perf_counter()
    if name in SCORING_BASELINES:
        ranker, params = SCORING_BASELINES[name](catalog, seed=seed, **options)
        seconds = time.perf_counter() - started
    elif name in EMBEDDING_BASELINES:
        embeddings, params = EMBEDDING_BASELINES[name](catalog, seed=seed, **options)
        seconds = time.perf_counter() - started
        ranker = Recommender(catalog, embeddings, {"model": name})
    else:
        ranker = Recommender.train(catalog, model=name, seed=seed, progress=False, **options)
        params = dict(ranker.metadata.get("params", {}))
        seconds = float(ranker.metadata.get("train_seconds", time.perf_counter() - started))
    return Built(ranker, params, seconds)
