"""The public face of the recommender: train, save/load, resolve, similar.

Arrays in, plain results out (like the `implicit` library's `similar_items`): callers
never see tensors.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender import artifacts
from recommender.ann import ANN_MIN_TRACKS, AnnIndex
from recommender.catalog_index import CatalogIndex
from recommender.data import Catalog, load_catalog
from recommender.playlist_walk import PlaylistWalk
from recommender.ranking import ArtistCap, Ranked, top_k
from recommender.search import EXACT_TITLE

SPOTIFY_TRACK_URL = "https://open.spotify.com/track/{}"
# Past this many candidates from the index, a question that exclusions and the artist
# cap keep starving is answered by exact search instead.
ANN_MAX_CANDIDATES = 4096
# The model `train` uses unless told otherwise: the one that beats every baseline in
# `musicbot evaluate`. The seed design stays available as "seed-gcn".
DEFAULT_MODEL = "hetero-lightgcn"


@dataclass(frozen=True)
class TrackResult:
    """One track as a person sees it; `score` is the model's score (cosine similarity plus
    the model's popularity prior, see `Recommender.scores_for_rows`) or match confidence."""

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
    meant (a shared title such as "Hello"). `not_a_song` names the kind of Spotify link
    that was given instead of a song ("album", "playlist", …, "local" for a local file).
    """

    query: str
    best: TrackResult | None
    alternatives: list[TrackResult] = field(default_factory=list)
    suggestions: list[TrackResult] = field(default_factory=list)
    not_a_song: str | None = None

    @property
    def found(self) -> bool:
        return self.best is not None

    @property
    def exact(self) -> bool:
        """The whole text names a catalog title (with its artist, or a Spotify link), not a
        guess: words in it such as "remix" or "live" are part of the song's name."""
        return self.best is not None and self.best.score >= EXACT_TITLE


@dataclass(frozen=True)
class SimilarQuery:
    """One `similar` question, for asking many at once (`Recommender.similar_many`)."""

    track_id: str
    k: int = 10
    artist_cap: ArtistCap | None = None


class UnknownTrackError(KeyError):
    """A track_id that is not in this model's catalog."""


class Recommender:
    """Track embeddings plus the catalog they belong to, and the index built from it."""

    def __init__(
        self,
        catalog: Catalog,
        embeddings: np.ndarray,
        metadata: dict[str, Any] | None = None,
        *,
        normalized: bool = False,
        search_text: pd.DataFrame | None = None,
        ann: AnnIndex | None = None,
    ) -> None:
        if len(embeddings) != catalog.num_tracks:
            raise ValueError("one embedding row per catalog track is required")
        if normalized:  # a saved model's rows are unit length already (and may be mapped)
            self.embeddings = embeddings
        else:
            norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
            self.embeddings = (embeddings / np.maximum(norms, 1e-12)).astype(np.float32)
        self.catalog = catalog
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.index = CatalogIndex(catalog, search_text)
        # A trained model may carry a popularity prior (its `popularity_weight`): chosen
        # with `musicbot evaluate` on a validation split, it is how much a song's Spotify
        # popularity (0..1) adds to its cosine. Baselines and older models have none.
        params = self.metadata.get("params") or {}
        self.popularity_weight = float(params.get("popularity_weight", 0.0))
        # What the prior adds to each row's cosine, worked out once: every answer adds it.
        self._prior = self.popularity_weight * (self.index.popularity / 100.0)
        # A model trained on a catalog shaped like the Million Playlist Dataset may also
        # count the songs that share playlists with the seeds (`playlist_walk`), by the
        # `walk_weight` its training chose; on the real catalog it is 0 and nothing changes.
        self.walk_weight = float(params.get("walk_weight", 0.0))
        self.walk = PlaylistWalk.of_catalog(catalog) if self.walk_weight > 0 else None
        # Above `ANN_MIN_TRACKS` tracks a saved model has an index that proposes
        # candidates for `similar`; `None` means exact search over every row.
        self.ann = ann

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

    def save(self, directory: str | Path, *, ann_min_tracks: int = ANN_MIN_TRACKS) -> Path:
        """Write the model; a catalog of `ann_min_tracks` tracks or more gets an ANN index."""

        def write_ann(path: Path) -> dict[str, Any] | None:
            if len(self) < ann_min_tracks:
                return None
            from recommender import ann

            seed = int(self.metadata.get("params", {}).get("seed", 0))
            return {**ann.build(self.embeddings, path, seed=seed), "min_tracks": ann_min_tracks}

        return artifacts.save(
            directory,
            self.catalog,
            self.embeddings,
            self.metadata,
            search_text=self.index.search_text(),
            write_ann=write_ann,
        )

    @classmethod
    def load(cls, directory: str | Path, *, exact: bool = False) -> Recommender:
        """Load a saved model; `exact` ignores its ANN index (for comparisons and tests)."""
        loaded = artifacts.load(directory)
        index = None
        if loaded.ann_path is not None and not exact:
            try:
                index = AnnIndex.load(loaded.ann_path, loaded.metadata["ann"])
            except (ImportError, RuntimeError) as error:  # no faiss here, or a bad file
                raise artifacts.ArtifactError(
                    f"the model in {directory} has an index that cannot be read: {error}"
                ) from error
        return cls(
            loaded.catalog,
            loaded.embeddings,
            loaded.metadata,
            normalized=loaded.metadata.get("format", 1) >= 2,
            search_text=loaded.search_text,
            ann=index,
        )

    def warm_up(self) -> None:
        """Build what follow-ups and explanations look up (about a second) ahead of them."""
        self.index.warm_up()

    # -- facts --------------------------------------------------------------------------
    @property
    def scoring(self) -> str:
        """How this model scores a song, for the admin: the weights its training chose.
        A retrain on a new catalog may change them (a heavier prior, the playlist walk)."""
        parts = ["similarity"]
        if self.popularity_weight:
            parts.append(f"{self.popularity_weight:g} × popularity")
        walk = f"{self.walk_weight:g} × shared playlists" if self.walk is not None else None
        return " + ".join([*parts, walk] if walk else parts) + (
            "" if walk else "; no playlist walk"
        )

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unsaved"))

    @property
    def info(self) -> artifacts.ModelInfo:
        """What the model records about itself (when and how it was trained), typed."""
        return artifacts.ModelInfo.of(self.metadata)

    def __len__(self) -> int:
        return self.catalog.num_tracks

    def __contains__(self, track_id: object) -> bool:
        return track_id in self.index.row_of

    def row(self, track_id: str) -> int:
        try:
            return self.index.row_of[track_id]
        except KeyError:
            raise UnknownTrackError(track_id) from None

    def track(self, track_id: str, score: float = 0.0) -> TrackResult:
        return self.result(self.row(track_id), score)

    def track_table(self, track_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Catalog rows (names, album, year, popularity, audio features) for some tracks."""
        if track_ids is None:
            return self.catalog.tracks
        return self.catalog.tracks.iloc[[self.row(t) for t in track_ids]]

    # -- verbs --------------------------------------------------------------------------
    def resolve(self, text: str) -> Resolution:
        match = self.index.search.resolve(text)
        return Resolution(
            query=text,
            best=None if match.best is None else self.result(match.best, match.best_score),
            alternatives=[self.result(i, s) for i, s in match.alternatives],
            suggestions=[self.result(i, s) for i, s in match.suggestions],
            not_a_song=match.not_a_song,
        )

    def autocomplete(self, text: str, limit: int = 25) -> list[TrackResult]:
        return [self.result(i, s) for i, s in self.index.search.complete(text, limit)]

    def similar(
        self,
        track_id: str,
        k: int = 10,
        exclude: Iterable[str] = (),
        *,
        artist_cap: ArtistCap | None = None,
    ) -> list[TrackResult]:
        """Top-k by cosine; never the query, another version of it, or a repeated song."""
        return self.recommend_for_tracks([track_id], k=k, exclude=exclude, artist_cap=artist_cap)

    def similar_many(self, queries: Sequence[SimilarQuery]) -> list[list[TrackResult]]:
        """`similar` for many songs at once, each answer exactly the one `similar` gives.

        Exact search reads every embedding row once for the whole batch (one matrix
        product) instead of once per question: on a burst of requests, reading the
        matrix is most of each answer's cost. With an index, each question is its own
        search (it reads a few candidates, not the matrix)."""
        if self.ann is not None:
            return [self.similar(q.track_id, q.k, artist_cap=q.artist_cap) for q in queries]
        rows = [self.row(q.track_id) for q in queries]
        scores = self.scores_for_queries([[r] for r in rows]) if rows else None
        answers: list[list[TrackResult]] = []
        for i, (query, row) in enumerate(zip(queries, rows, strict=True)):
            if query.k <= 0:
                answers.append([])
                continue
            assert scores is not None
            ranked = self.rank(
                scores[:, i],
                query.k,
                exclude=[row],
                artist_cap=query.artist_cap,
                query=[row],
            )
            answers.append([self.result(r, s) for r, s in ranked.pairs()])
        return answers

    def recommend_for_tracks(
        self,
        track_ids: Sequence[str],
        k: int = 10,
        exclude: Iterable[str] = (),
        *,
        artist_cap: ArtistCap | None = None,
    ) -> list[TrackResult]:
        """Top-k for several seeds at once (their mean direction), excluding the seeds.

        `exclude` and other versions of it never come back; `artist_cap` spreads the
        picks over artists (the seeds' artists count as the query's).
        """
        rows = self.rows(track_ids)
        if not rows or k <= 0:
            return []
        excluded = [*rows, *(self.index.row_of[t] for t in exclude if t in self.index.row_of)]
        ranked = None
        if self.ann is not None:
            ranked = self._rank_nearest(rows, k, excluded, artist_cap)
        if ranked is None:
            scores = self.scores_for_queries([rows])[:, 0]
            ranked = self.rank(scores, k, exclude=excluded, artist_cap=artist_cap, query=rows)
        return [self.result(r, s) for r, s in ranked.pairs()]

    def _rank_nearest(
        self, rows: list[int], k: int, excluded: list[int], artist_cap: ArtistCap | None
    ) -> Ranked | None:
        """`rank` over the index's nearest candidates, fetching more while exclusions, one
        version per song or the artist cap leave fewer than k; None: search every row."""
        assert self.ann is not None
        query = self.query_vector(rows)
        wanted = max(64, 4 * k + 2 * len(excluded))
        walked = self.walk.reached(rows) if self.walk is not None else None
        while wanted <= ANN_MAX_CANDIDATES:
            found, cosines = self.ann.search(query, min(wanted, len(self)))
            scores = self.with_prior(cosines, found)
            if walked is not None:  # the walk's best songs are candidates too
                found, scores = self._with_walk(query, found, scores, walked, wanted)
            ranked = self.rank(
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
        self,
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
        full = self.with_prior(self.embeddings[songs[pool]] @ query, songs[pool])
        full = full + self.walk_weight * walk[pool]
        if len(pool) > wanted:
            pool = pool[np.argpartition(-full, wanted - 1)[:wanted]]
        best = songs[pool]
        extra = np.setdiff1d(best, found)
        rows = np.concatenate([found, extra]).astype(np.int64)
        base = np.concatenate([scores, self.with_prior(self.embeddings[extra] @ query, extra)])
        bonus = PlaylistWalk.lookup(walked, rows)
        return rows, (base + self.walk_weight * bonus).astype(np.float32)

    def scores_for_tracks(self, track_ids: Sequence[str]) -> np.ndarray:
        """Every catalog track's score for these seeds, as answers rank them (for re-ranking)."""
        return self.scores_for_rows(self.rows(track_ids))

    # -- by row, for the rest of the package ----------------------------------------------
    def rows(self, track_ids: Sequence[str]) -> list[int]:
        """The rows of some tracks, each once, in order (UnknownTrackError if not here)."""
        return [self.row(t) for t in dict.fromkeys(track_ids)]

    def query_vector(self, rows: Sequence[int]) -> np.ndarray:
        """The seeds' mean direction, unit length."""
        query = np.asarray(self.embeddings[list(rows)], dtype=np.float32).mean(axis=0)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        return query

    def scores_for_rows(self, rows: Sequence[int]) -> np.ndarray:
        """Every catalog row's score for these seed rows: cosine to their mean direction,
        plus the model's popularity prior (and, on a walk model, its playlist walk).

        Why a prior: with the artist spread on, a list holds at most two songs by each
        artist, so which songs of the query's neighbours make the list matters more; the
        ones people put in playlists together are more often the better-known ones.
        Measured on a validation split with the default spread: song->song Recall@10
        0.031 -> 0.035, on warm targets 0.013 -> 0.017."""
        return self.with_walk(self.with_prior(self.embeddings @ self.query_vector(rows)), rows)

    def scores_for_queries(self, seed_rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Every catalog row's score for each question (its seed rows): rows x questions,
        by `cosines` plus the prior (and the walk, on a walk model). What `similar` and `recommend_for_tracks` rank; a
        model that scores otherwise (the evaluation's baselines) overrides this."""
        scores = self.cosines(np.stack([self.query_vector(rows) for rows in seed_rows]))
        if self.popularity_weight:
            scores = scores + self._prior[:, None]
        if self.walk is not None:
            for column, rows in enumerate(seed_rows):
                scores[:, column] = self.with_walk(scores[:, column], rows)
        return scores

    def cosines(self, queries: np.ndarray) -> np.ndarray:
        """Every row's cosine to each unit query (one per row of `queries`): rows x queries.

        How `similar` and `similar_many` score: always one matrix-matrix product, even for
        one query (paired with itself). BLAS sums a matrix-vector product in another order,
        and scores that differ in the last bit can swap two near-equal songs, so a song's
        answer would depend on whether others asked at the same moment. (For one query
        this costs a few ms more than `scores_for_rows`' matrix-vector product, which the
        rankings that score one seed at a time keep.)"""
        if len(queries) == 1:
            return (self.embeddings @ np.concatenate([queries, queries]).T)[:, :1]
        return self.embeddings @ queries.T

    def with_prior(self, cosines: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Cosines (of every row, or of `rows`) plus the model's popularity prior."""
        if not self.popularity_weight:
            return cosines
        return cosines + (self._prior if rows is None else self._prior[rows])

    def with_walk(
        self,
        scores: np.ndarray,
        rows: Sequence[int],
        walked: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Every row's scores plus the walk from these seed rows, by the model's weight
        (`walked`: that walk, when the caller has taken it already)."""
        if self.walk is None:
            return scores
        songs, walk = walked if walked is not None else self.walk.reached(rows)
        out = np.array(scores, dtype=np.float32)  # a copy: the caller's scores stay
        out[songs] += self.walk_weight * walk  # one entry per song reached
        return out

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
    ) -> Ranked:
        """`ranking.top_k` over this catalog's songs and artists; `query` rows name the
        artists `artist_cap.per_query_artist` applies to; `rows` says which catalog rows
        `scores` are for when they are an index's candidates rather than every row."""
        artists = self.index.artist_codes
        return top_k(
            scores,
            k,
            songs=self.index.song_codes,
            exclude=exclude,
            candidates=candidates,
            artists=artists,
            cap=artist_cap,
            query_artists=set(artists[list(query)].tolist()) if artist_cap else (),
            rows=rows,
        )

    def result(self, row: int, score: float = 0.0) -> TrackResult:
        index = self.index
        return TrackResult(
            track_id=index.track_ids[row],
            name=index.names[row],
            artist=index.artist_names[row],
            album=index.album_names[row],
            release_year=int(index.years[row]),
            popularity=int(index.popularity[row]),
            score=round(float(score), 4),
        )
