"""The public face of the recommender: train, save/load, resolve, similar.

Arrays in, plain results out (like the `implicit` library's `similar_items`): callers
never see tensors.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender import artifacts, nearest, placing, understanding
from recommender.ann import ANN_MIN_TRACKS, AnnIndex
from recommender.artists import SEED_SONGS, own_songs_cap
from recommender.catalog_index import CatalogIndex
from recommender.data import Catalog, load_catalog
from recommender.placement import Placer, TrackMetadata
from recommender.placing import PlacedTrack, PlaceQuery
from recommender.playlist_walk import PlaylistWalk
from recommender.ranking import ArtistCap, Ranked, matches, top_k
from recommender.results import (  # noqa: F401 - the package's public types live here too
    ArtistResult,
    Reading,
    Resolution,
    SimilarQuery,
    TrackResult,
    Understanding,
)

if TYPE_CHECKING:
    from recommender.vocabulary import TermRows, Vocabulary

# The model `train` uses unless told otherwise: the one that beats every baseline in
# `musicbot evaluate`. The seed design stays available as "seed-gcn".
DEFAULT_MODEL = "hetero-lightgcn"


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
        self._placer: Placer | None = None  # built on the first song placed from outside

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
        from recommender.vocabulary import Vocabulary  # (it reads the follow-up grammar)

        metadata["vocabulary"] = Vocabulary.learn(catalog).to_dict()
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
    @cached_property
    def vocabulary(self) -> Vocabulary:
        """The catalog's words for kinds of music ("neo soul"), learned when the model was
        trained and saved with it; derived from the catalog for a model saved before."""
        from recommender.vocabulary import Vocabulary

        saved = self.metadata.get("vocabulary")
        return Vocabulary.from_dict(saved) if saved else Vocabulary.learn(self.catalog)

    @cached_property
    def term_rows(self) -> TermRows:
        """Which songs each term of the vocabulary names (built as terms are asked for)."""
        from recommender.vocabulary import TermRows

        return TermRows(self.vocabulary, self.catalog)

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
        """The song `text` names (a title, `title - artist`, a Spotify link), if any: never
        another artist's song of the title when the named artist's is missing."""
        understood = self.understand(text)
        resolution = understood.resolution
        if understood.kind in (Reading.MISSING_SONG, Reading.NOT_FOUND) and resolution.best:
            close = understood.suggestions or [resolution.best, *resolution.alternatives][:3]
            return Resolution(query=text, best=None, suggestions=close)
        return resolution

    def understand(self, text: str) -> Understanding:
        """What a request asks for: a song, an artist, or a song the catalog lacks
        (`recommender.understanding`); every front end reads requests with this."""
        return understanding.understand(self.index, text, self.result)

    def names_exactly(self, text: str) -> bool:
        """Whether `text` names a song or artist exactly, so reading it needs no search
        (`understanding.names_exactly`): how the bot tells quick requests from slow ones."""
        return understanding.names_exactly(self.index, text)

    def knows_artist(self, name: str) -> bool:
        """Whether any catalog song is by this artist (as `search.normalize` spells it)."""
        return self.placer.knows_artist(name)

    @property
    def placer_ready(self) -> bool:
        """Whether `placer` is built (then `knows_artist` is a dictionary look-up)."""
        return self._placer is not None

    @property
    def placer(self) -> Placer:
        """What placing songs from outside the catalog needs (built on first use)."""
        if self._placer is None:
            self._placer = Placer(self.index, self.embeddings)
        return self._placer

    def place(
        self, song: TrackMetadata, k: int = 10, *, artist_cap: ArtistCap | None = None
    ) -> PlacedTrack | None:
        """Songs like one the catalog lacks, from what a lookup knows of it (no audio
        features, no playlists), ranked like any answer; None when nothing of it (artist,
        genres, year) matches the catalog. A song the catalog has is answered as itself."""
        return self.place_many([PlaceQuery(song, k, artist_cap)])[0]

    def place_many(self, queries: Sequence[PlaceQuery]) -> list[PlacedTrack | None]:
        """`place` for many songs at once (`recommender.placing.place_many`)."""
        return placing.place_many(self, queries)

    def with_prior_columns(self, cosines: np.ndarray) -> np.ndarray:
        """Cosines of every row to several queries (rows x queries) plus the prior."""
        if not self.popularity_weight:
            return cosines
        return cosines + self._prior[:, None]

    def autocomplete(self, text: str, limit: int = 25) -> list[TrackResult]:
        return [self.result(i, s) for i, s in self.index.search.complete(text, limit)]

    def autocomplete_artists(self, text: str, limit: int = 5) -> list[ArtistResult]:
        """Artists whose name starts with `text`, best known first."""
        codes = self.index.by_artist.complete(text, limit)
        return [understanding.artist_result(self.index, c, self.result, 100.0) for c in codes]

    def artist_seeds(self, artist: ArtistResult) -> list[str]:
        """The songs that stand for an artist in the model (`recommender.artists`)."""
        code = self.index.artist_codes[self.row(artist.top_track.track_id)]
        rows = self.index.by_artist.rows(int(code), SEED_SONGS)
        return [self.index.track_ids[r] for r in rows.tolist()]

    def recommend_for_artist(
        self,
        artist: ArtistResult,
        k: int = 10,
        exclude: Iterable[str] = (),
        *,
        artist_cap: ArtistCap | None = None,
    ) -> list[TrackResult]:
        """Songs like an artist: at most `OWN_SONGS` of their own, `artist_cap` for the rest."""
        rows = self.rows(self.artist_seeds(artist))
        excluded = [self.index.row_of[t] for t in exclude if t in self.index.row_of]
        cap = own_songs_cap(artist_cap, k)
        ranked = self.rank(
            self.scores_for_rows(rows), k, exclude=excluded, artist_cap=cap, query=rows
        )
        return self.picks(ranked)

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
            answers.append(self.picks(ranked))
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
            ranked = nearest.rank_nearest(self, rows, k, excluded, artist_cap)
        if ranked is None:
            scores = self.scores_for_queries([rows])[:, 0]
            ranked = self.rank(scores, k, exclude=excluded, artist_cap=artist_cap, query=rows)
        return self.picks(ranked)

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

    @property
    def score_ceiling(self) -> float:
        """The most a song can score here: a cosine of 1, plus the prior's and the walk's
        weights at their most (each counts 0..1)."""
        return 1.0 + self.popularity_weight + (self.walk_weight if self.walk is not None else 0.0)

    def picks(self, ranked: Ranked, ranked_by: np.ndarray | None = None) -> list[TrackResult]:
        """A ranked list as results: `score` the model's, `match` what a member reads, from
        the score the list was ranked by (`ranked_by`, per catalog row, when it was not
        `ranked.scores`: a refinement's pull counts)."""
        by = ranked.scores if ranked_by is None else ranked_by[ranked.rows]
        shown = matches(by, self.score_ceiling)
        return [self.result(r, s, m) for (r, s), m in zip(ranked.pairs(), shown, strict=True)]

    def result(self, row: int, score: float = 0.0, match: float = 0.0) -> TrackResult:
        index = self.index
        return TrackResult(
            track_id=index.track_ids[row],
            name=index.names[row],
            artist=index.artist_names[row],
            album=index.album_names[row],
            release_year=int(index.years[row]),
            popularity=int(index.popularity[row]),
            score=round(float(score), 4),
            match=match,
        )
