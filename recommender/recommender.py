"""The public face of the recommender: train, save/load, resolve, similar.

Arrays in, plain results out (like the `implicit` library's `similar_items`): callers
never see tensors.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender import artifacts
from recommender.data import Catalog, load_catalog
from recommender.search import TitleIndex

SPOTIFY_TRACK_URL = "https://open.spotify.com/track/{}"
# The model `train` uses unless told otherwise: the one that beats every baseline in
# `musicbot evaluate`. The seed design stays available as "seed-gcn".
DEFAULT_MODEL = "hetero-lightgcn"


@dataclass(frozen=True)
class TrackResult:
    """One track as a person sees it; `score` is cosine similarity (or match confidence)."""

    track_id: str
    name: str
    artist: str
    album: str = ""
    release_year: int = 0
    popularity: int = 0
    score: float = 0.0

    @property
    def url(self) -> str:
        return SPOTIFY_TRACK_URL.format(self.track_id)

    @property
    def label(self) -> str:
        return f"{self.name} — {self.artist}"


@dataclass(frozen=True)
class Resolution:
    """What a free-text query resolved to.

    `best` is None when nothing matched well enough; then `suggestions` holds
    "did you mean" candidates. `alternatives` are other tracks the text may have
    meant (a shared title such as "Hello").
    """

    query: str
    best: TrackResult | None
    alternatives: list[TrackResult] = field(default_factory=list)
    suggestions: list[TrackResult] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.best is not None


class UnknownTrackError(KeyError):
    """A track_id that is not in this model's catalog."""


class Recommender:
    """Track embeddings plus the catalog they belong to."""

    def __init__(
        self,
        catalog: Catalog,
        embeddings: np.ndarray,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if len(embeddings) != catalog.num_tracks:
            raise ValueError("one embedding row per catalog track is required")
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        self.embeddings = (embeddings / np.maximum(norms, 1e-12)).astype(np.float32)
        self.catalog = catalog
        self.metadata: dict[str, Any] = dict(metadata or {})
        tracks = catalog.tracks
        # Plain lists: building a result must not pay for a pandas row lookup.
        self._ids: list[str] = tracks["track_id"].astype(str).tolist()
        self._names: list[str] = tracks["track_name"].astype(str).tolist()
        self._artists: list[str] = tracks["track_artist"].astype(str).tolist()
        self._albums: list[str] = tracks["track_album_name"].astype(str).tolist()
        self._years: list[int] = tracks["release_year"].astype(int).tolist()
        self._popularity: list[int] = tracks["track_popularity"].astype(int).tolist()
        self._row_of: dict[str, int] = {tid: i for i, tid in enumerate(self._ids)}
        self._index = TitleIndex(tracks)
        self._song_key = self._index.keys  # "other versions of the same song" share a key

    # -- building -----------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        data: str | Path | Catalog,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        progress: bool | None = None,
        **options: Any,
    ) -> Recommender:
        """Train a model on a CSV path or a Catalog; options go to the chosen trainer."""
        from recommender.training import TRAINERS  # torch is imported only when training

        catalog = data if isinstance(data, Catalog) else load_catalog(data)
        if model not in TRAINERS:
            raise ValueError(f"unknown model {model!r}; choose from {', '.join(TRAINERS)}")
        started = time.perf_counter()
        embeddings, params = TRAINERS[model](catalog, seed=seed, progress=progress, **options)
        metadata = artifacts.new_metadata(
            catalog,
            model=model,
            params={"seed": seed, **params},
            train_seconds=time.perf_counter() - started,
        )
        return cls(catalog, embeddings, metadata)

    def save(self, directory: str | Path) -> Path:
        return artifacts.save(directory, self.catalog, self.embeddings, self.metadata)

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        catalog, embeddings, metadata = artifacts.load(directory)
        return cls(catalog, embeddings, metadata)

    # -- facts --------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unsaved"))

    def __len__(self) -> int:
        return self.catalog.num_tracks

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._row_of

    def row(self, track_id: str) -> int:
        try:
            return self._row_of[track_id]
        except KeyError:
            raise UnknownTrackError(track_id) from None

    @property
    def song_keys(self) -> list[str]:
        """Per catalog row, a key that other versions of the same song share (read-only)."""
        return self._song_key

    def track(self, track_id: str, score: float = 0.0) -> TrackResult:
        return self._result(self.row(track_id), score)

    def track_table(self, track_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Catalog rows (names, album, year, popularity, audio features) for some tracks."""
        if track_ids is None:
            return self.catalog.tracks
        return self.catalog.tracks.iloc[[self.row(t) for t in track_ids]]

    # -- verbs --------------------------------------------------------------------------
    def resolve(self, text: str) -> Resolution:
        match = self._index.resolve(text)
        return Resolution(
            query=text,
            best=None if match.best is None else self._result(match.best, match.best_score),
            alternatives=[self._result(i, s) for i, s in match.alternatives],
            suggestions=[self._result(i, s) for i, s in match.suggestions],
        )

    def autocomplete(self, text: str, limit: int = 25) -> list[TrackResult]:
        return [self._result(i, s) for i, s in self._index.complete(text, limit)]

    def similar(self, track_id: str, k: int = 10, exclude: Iterable[str] = ()) -> list[TrackResult]:
        """Top-k by cosine; never the query, another version of it, or a repeated song."""
        return self.recommend_for_tracks([track_id], k=k, exclude=exclude)

    def recommend_for_tracks(
        self, track_ids: Sequence[str], k: int = 10, exclude: Iterable[str] = ()
    ) -> list[TrackResult]:
        """Top-k for several seeds at once (their mean direction), excluding the seeds."""
        rows = [self.row(t) for t in dict.fromkeys(track_ids)]
        if not rows or k <= 0:
            return []
        scores = self._cosine_to(rows)
        banned_keys = {self._song_key[r] for r in rows}
        banned_rows = set(rows)
        for track_id in exclude:
            row = self._row_of.get(track_id)
            if row is not None:
                banned_rows.add(row)
                banned_keys.add(self._song_key[row])
        return [
            self._result(r, scores[r]) for r in self._top_rows(scores, k, banned_rows, banned_keys)
        ]

    def scores_for_tracks(self, track_ids: Sequence[str]) -> np.ndarray:
        """Cosine of every catalog track to the seeds' mean direction (for re-ranking)."""
        return self._cosine_to([self.row(t) for t in dict.fromkeys(track_ids)])

    # -- helpers ------------------------------------------------------------------------
    def _cosine_to(self, rows: list[int]) -> np.ndarray:
        query = self.embeddings[rows].mean(axis=0)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        return self.embeddings @ query

    def _top_rows(
        self, scores: np.ndarray, k: int, banned_rows: set[int], banned_keys: set[str]
    ) -> list[int]:
        """The k best rows, one version per song; widen the pool only if dedup empties it."""
        pool = min(len(scores), k * 4 + len(banned_rows) + 8)
        while True:
            candidates = np.argpartition(-scores, pool - 1)[:pool]
            candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
            picked: list[int] = []
            seen_keys = set(banned_keys)
            for row in candidates.tolist():
                key = self._song_key[row]
                if row in banned_rows or key in seen_keys:
                    continue
                seen_keys.add(key)
                picked.append(row)
                if len(picked) == k:
                    return picked
            if pool >= len(scores):
                return picked
            pool = min(len(scores), pool * 4)

    def _result(self, row: int, score: float = 0.0) -> TrackResult:
        return TrackResult(
            track_id=self._ids[row],
            name=self._names[row],
            artist=self._artists[row],
            album=self._albums[row],
            release_year=self._years[row],
            popularity=self._popularity[row],
            score=round(float(score), 4),
        )
