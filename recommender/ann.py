"""Approximate nearest neighbours for big catalogs: a FAISS inverted-file index.

Exact cosine over every track costs N x 192 multiply-adds per question: 2 ms at the real
catalog's 28k tracks, ~80 ms at the Million Playlist Dataset's 400k. Above
`ANN_MIN_TRACKS` a model is saved with an IVF index (vectors grouped around `nlist`
centroids; a question scans only the `nprobe` nearest groups). The index only proposes
candidates: every answer is still ranked by `ranking.top_k`, with the same exclusions,
one version per song and artist cap as the exact path. `nprobe` is chosen at save time,
the smallest that finds >= `TARGET_RECALL` of the exact top 10 on sampled tracks, so
what the index misses is measured, not assumed. Below the threshold (the real catalog,
the tests) search stays exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ANN_MIN_TRACKS = 100_000
TARGET_RECALL = 0.99  # on the calibration sample, so the served recall clears 0.98
_NPROBES = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 512)
_CALIBRATION_QUERIES = 300


def _faiss():  # noqa: ANN202 - imported lazily: only big catalogs need it
    import faiss

    # One thread per question: a single query gains nothing from a thread pool, and on a
    # shared machine idle OpenMP workers spinning cost other work its time slices.
    faiss.omp_set_num_threads(1)
    return faiss


def exact_top(embeddings: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The exact top-k rows by inner product, one row of ids per query."""
    scores = queries @ np.asarray(embeddings).T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(-scores, top, axis=1).argsort(axis=1)
    return np.take_along_axis(top, order, axis=1)


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k ids the index also returned in its top k."""
    hits = sum(len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact, strict=True))
    return hits / exact.size


def build(embeddings: np.ndarray, path: Path, *, seed: int = 0, k: int = 10) -> dict[str, Any]:
    """Build, calibrate and write an IVF index of unit rows; returns its metadata."""
    faiss = _faiss()
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    count, dim = vectors.shape
    nlist = int(min(max(16, 4 * math.sqrt(count)), count // 40 or 1))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[np.sort(rng.choice(count, size=min(count, nlist * 64), replace=False))]
    faiss.omp_set_num_threads(2)  # training the centroids is worth both cores
    index.cp.seed = seed
    index.train(sample)
    index.add(vectors)
    faiss.omp_set_num_threads(1)

    probes = vectors[rng.choice(count, size=min(count, _CALIBRATION_QUERIES), replace=False)]
    exact = exact_top(vectors, probes, k)
    nprobe, recall = nlist, 1.0
    for candidate in _NPROBES:
        if candidate >= nlist:
            break
        index.nprobe = candidate
        _, found = index.search(probes, k)
        measured = recall_at(found, exact)
        if measured >= TARGET_RECALL:
            nprobe, recall = candidate, measured
            break
    index.nprobe = nprobe
    faiss.write_index(index, str(path))
    return {
        "kind": "ivf-flat",
        "nlist": nlist,
        "nprobe": nprobe,
        "calibration_recall_at_10": round(recall, 4),
    }


@dataclass
class AnnIndex:
    """A loaded index: `search(query, n)` gives up to n candidate rows, best first."""

    index: Any
    size: int

    @classmethod
    def load(cls, path: Path, info: dict[str, Any]) -> AnnIndex:
        faiss = _faiss()
        # Read into memory, not mapped like the embeddings: at 404k tracks a mapped index
        # answered in 2-3 ms a question even once every page was in the cache, a read one
        # in 0.5 ms, for 0.3 s more at load (benchmarks/bench_scale.py --serving-only).
        index = faiss.read_index(str(path))
        index.nprobe = int(info.get("nprobe", 32))
        return cls(index=index, size=int(index.ntotal))

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = self.index.search(np.asarray(query, dtype=np.float32)[None, :], n)
        keep = rows[0] >= 0
        return rows[0][keep].astype(np.int64), scores[0][keep].astype(np.float64)


__all__ = ["ANN_MIN_TRACKS", "AnnIndex", "build", "exact_top", "recall_at"]
