"""Where a song the catalog lacks sits among the songs it has, from what is known of it.

A song looked up elsewhere (a music service, a member's Spotify presence) arrives with a
title, its artists, maybe an album, a release year, a popularity and some genre tags, but
no audio features and no playlists. The model places a catalog-only track from exactly
that kind of content plus its artist and album nodes, so a looked-up song is placed the
same way: near its own artist's songs (the ones from its album and its years counting
most), and, when the artist is new to the catalog, near the catalog's songs of the
genres the source names and of its era. That last case is a rough guess, and says so.

Only numpy over a model's unit embeddings and its `CatalogIndex`; nothing here trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd

from recommender.catalog_index import CatalogIndex
from recommender.search import normalize

# How strongly the album's own songs pull against the artist's other songs.
ALBUM_WEIGHT = 1.0
ARTIST_WEIGHT = 1.0
# An artist's songs from years near the looked-up song's weigh more: a 2021 Dua Lipa
# single sounds like her 2020 album, less like her 2015 debut (years to halve a weight).
YEAR_HALF_LIFE = 4.0
# A genre neighbourhood keeps songs within this many years of the song's, when enough do.
ERA_YEARS = 5
MIN_NEIGHBOURHOOD = 20
# Tags are matched to the catalog's playlist genres and subgenres by whole words.
_WORDS = re.compile(r"[a-z0-9&]+")


class Basis(Enum):
    """What decided where a looked-up song sits (said to members in the answer)."""

    ALBUM = "album"  # the artist's songs, those of its album most
    ARTIST = "artist"  # the artist's songs, those of its years most
    GENRE = "genre"  # the catalog's songs of the genres the source gave (and its era)
    ERA = "era"  # only its release years: the roughest guess

    @property
    def rough(self) -> bool:
        """Whether the artist is new to the catalog, so the place is a guess from tags."""
        return self in (Basis.GENRE, Basis.ERA)


@dataclass(frozen=True)
class TrackMetadata:
    """A song the catalog lacks, as a lookup found it: no audio features, no playlists.

    `source` is where it came from ("spotify", "musicbrainz", "presence"); `source_id`
    that source's id (a Spotify track id, a MusicBrainz recording id)."""

    source: str
    source_id: str
    title: str
    artists: tuple[str, ...]
    album: str = ""
    album_id: str = ""
    year: int = 0
    popularity: int = 0  # 0-100 as Spotify gives it; 0 when the source gives none
    tags: tuple[str, ...] = ()  # genres or tags, as the source spells them

    @property
    def artist(self) -> str:
        return self.artists[0] if self.artists else ""

    @property
    def track_id(self) -> str:
        """The id the song has in this bot: its Spotify id where it has one (so a pasted
        link finds it after the retrain), else the source's id with the source's name."""
        if self.source in ("spotify", "presence"):
            return self.source_id
        return f"{self.source}:{self.source_id}"


@dataclass(frozen=True)
class Placement:
    """Where a looked-up song sits: a unit vector in the model's space and why there."""

    vector: np.ndarray = field(repr=False)
    basis: Basis
    artist_rows: np.ndarray = field(repr=False)  # the catalog rows of its artist (may be none)
    matched: tuple[str, ...] = ()  # the genres it was placed among (GENRE basis)


class Placer:
    """What placing needs of one model, worked out once: rows per artist, per genre word."""

    def __init__(self, index: CatalogIndex, embeddings: np.ndarray) -> None:
        self.index = index
        self.embeddings = embeddings
        rows_of: dict[str, list[int]] = {}
        for row, artist in enumerate(index.artists):
            rows_of.setdefault(artist, []).append(row)
        self.artist_rows = {a: np.asarray(r, dtype=np.int64) for a, r in rows_of.items()}
        self._albums: np.ndarray | None = None
        self._genre_rows: dict[str, np.ndarray] | None = None

    @property
    def albums(self) -> np.ndarray:
        if self._albums is None:
            self._albums = np.asarray([normalize(a) for a in self.index.album_names], dtype=object)
        return self._albums

    @property
    def genre_rows(self) -> dict[str, np.ndarray]:
        if self._genre_rows is None:
            self._genre_rows = _genre_rows(self.index)
        return self._genre_rows

    def knows_artist(self, name: str) -> bool:
        return normalize(name) in self.artist_rows

    def place(self, meta: TrackMetadata) -> Placement | None:
        """The song's place, or None when nothing about it matches the catalog at all."""
        for artist in meta.artists:
            rows = self.artist_rows.get(normalize(artist))
            if rows is not None and len(rows):
                return self._by_artist(meta, rows)
        return self._by_neighbourhood(meta)

    def _by_artist(self, meta: TrackMetadata, rows: np.ndarray) -> Placement:
        weights = np.ones(len(rows))
        years = self.index.years[rows]
        if meta.year:
            known = years > 0
            weights[known] = 0.5 ** (np.abs(years[known] - meta.year) / YEAR_HALF_LIFE)
        vector = ARTIST_WEIGHT * _mean(self.embeddings, rows, weights)
        basis = Basis.ARTIST
        album = normalize(meta.album) if meta.album else ""
        if album:
            on_album = rows[self.albums[rows] == album]
            if len(on_album):
                vector = vector + ALBUM_WEIGHT * _mean(self.embeddings, on_album)
                basis = Basis.ALBUM
        return Placement(_unit(vector), basis, rows)

    def _by_neighbourhood(self, meta: TrackMetadata) -> Placement | None:
        matched: list[str] = []
        pools: list[np.ndarray] = []
        for tag in meta.tags:
            key = " ".join(_WORDS.findall(tag.lower()))
            rows = self.genre_rows.get(key)
            if rows is not None:
                matched.append(key)
                pools.append(rows)
        empty = np.zeros(0, dtype=np.int64)
        if pools:
            rows = np.unique(np.concatenate(pools))
            if meta.year:
                near = rows[np.abs(self.index.years[rows] - meta.year) <= ERA_YEARS]
                if len(near) >= MIN_NEIGHBOURHOOD:
                    rows = near
            return Placement(
                _unit(_mean(self.embeddings, rows)), Basis.GENRE, empty, tuple(matched)
            )
        if meta.year:
            years = self.index.years
            for span in (1, 2, ERA_YEARS):
                rows = np.flatnonzero((years > 0) & (np.abs(years - meta.year) <= span))
                if len(rows) >= MIN_NEIGHBOURHOOD:
                    return Placement(_unit(_mean(self.embeddings, rows)), Basis.ERA, empty)
        return None


def _genre_rows(index: CatalogIndex) -> dict[str, np.ndarray]:
    """Catalog rows per playlist genre and subgenre ("pop", "dance pop", "neo soul"), in
    their own words: the catalog's labels, not a fixed list (another catalog has others)."""
    catalog = index.catalog
    if catalog.memberships.empty or catalog.playlists.empty:
        return {}
    playlists = catalog.playlists
    members = catalog.memberships
    out: dict[str, list[np.ndarray]] = {}
    for column in ("playlist_genre", "playlist_subgenre"):
        labels = (
            playlists[column].astype(str).str.lower().map(lambda s: " ".join(_WORDS.findall(s)))
        )
        label_of = labels.to_numpy()[members["playlist"].to_numpy()]
        frame = pd.DataFrame({"label": label_of, "track": members["track"].to_numpy()})
        for label, group in frame.groupby("label", sort=False):
            if label:
                out.setdefault(str(label), []).append(group["track"].to_numpy(dtype=np.int64))
    return {label: np.unique(np.concatenate(parts)) for label, parts in out.items()}


def _mean(
    embeddings: np.ndarray, rows: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    vectors = np.asarray(embeddings[rows], dtype=np.float32)
    if weights is None:
        return vectors.mean(axis=0)
    return (vectors * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1e-12)


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)
