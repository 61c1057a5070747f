"""Answers for songs the catalog lacks: each placed by `recommender.placement` from what
a lookup knows of it, its picks ranked like any answer; a burst placed together reads
the embedding matrix once. `Recommender.place` and `Recommender.place_many` answer
through here."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from recommender.placement import Basis, Placement, Placer, TrackMetadata
from recommender.ranking import ArtistCap, Ranked
from recommender.results import TrackResult


@dataclass(frozen=True)
class PlacedTrack:
    """A song the catalog lacks, placed by the model from its metadata, with its picks.

    `basis` says what decided its place: its album's and artist's songs, or (the artist
    being new too) the genres and era the source gave, which is a rough guess."""

    track: TrackResult
    basis: Basis
    picks: list[TrackResult]
    matched_genres: tuple[str, ...] = ()

    @property
    def rough(self) -> bool:
        return self.basis.rough


@dataclass(frozen=True)
class PlaceQuery:
    """One `place` question, for asking many at once (`Recommender.place_many`)."""

    song: TrackMetadata
    k: int = 10
    artist_cap: ArtistCap | None = None


class PlacingModel(Protocol):
    """What placing needs of a model (a `Recommender`)."""

    embeddings: np.ndarray

    def __contains__(self, track_id: object) -> bool: ...

    @property
    def placer(self) -> Placer: ...

    def track(self, track_id: str, score: float = 0.0) -> TrackResult: ...

    def similar(
        self,
        track_id: str,
        k: int = 10,
        exclude: Iterable[str] = (),
        *,
        artist_cap: ArtistCap | None = None,
    ) -> list[TrackResult]: ...

    def with_prior_columns(self, cosines: np.ndarray) -> np.ndarray: ...

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

    def picks(self, ranked: Ranked, ranked_by: np.ndarray | None = None) -> list[TrackResult]: ...


def place_many(model: PlacingModel, queries: Sequence[PlaceQuery]) -> list[PlacedTrack | None]:
    """`place` for many songs at once, each answer exactly the one `place` gives: the
    embedding matrix is read once for all of them (a burst of lookups that return
    together is placed together, as `similar_many` scores a burst of requests)."""
    answers: list[PlacedTrack | None] = [None] * len(queries)
    placements: list[tuple[int, Placement]] = []
    for i, query in enumerate(queries):
        song = query.song
        if song.track_id in model:
            track = model.track(song.track_id)
            picks = model.similar(song.track_id, query.k, artist_cap=query.artist_cap)
            answers[i] = PlacedTrack(track, Basis.ARTIST, picks)
            continue
        placement = model.placer.place(song)
        if placement is not None:
            placements.append((i, placement))
    if not placements:
        return answers
    vectors = np.stack([p.vector for _, p in placements])
    if len(vectors) == 1:  # one product either way (see `cosines`): same answer alone
        vectors = np.concatenate([vectors, vectors])
    scores = model.with_prior_columns(model.embeddings @ vectors.T)
    for column, (i, placement) in enumerate(placements):
        song, k, cap = queries[i].song, queries[i].k, queries[i].artist_cap
        picks = []
        if k > 0:
            query = placement.artist_rows[:1].tolist()
            ranked = model.rank(scores[:, column], k, artist_cap=cap, query=query)
            picks = model.picks(ranked)
        track = TrackResult(
            track_id=song.track_id,
            name=song.title,
            artist=", ".join(song.artists),
            album=song.album,
            release_year=song.year,
            popularity=song.popularity,
        )
        answers[i] = PlacedTrack(track, placement.basis, picks, placement.matched)
    return answers
