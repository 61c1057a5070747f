"""Songs that share playlists with the seeds: two steps over the playlist graph.

From the seeds to the playlists that hold them, and on to those playlists' other songs.
It is what LightGCN's propagation does with one-hot embeddings and no training, and on
catalogs shaped like the Million Playlist Dataset (thousands of playlists, steep
popularity) it finds the hidden songs of a list better than the trained embeddings do:
continuation Recall@10 0.33 against 0.13 at 29k memberships, 0.33 against 0.10 at 326k
(`benchmarks/bench_scale.py`). On the real catalog, where most songs are in one
playlist, it only finds the seeds' own playlist again and hurts (validation recall
0.258 without it, 0.244 at the weight of 0.1). So how much it counts is the model's `walk_weight`, chosen per catalog on
the validation slice the training run holds out (`training.blend.choose_blend`); 0 means off.

Each playlist's vote is split over its length (a 200-song list says less about any one
of its songs than a 20-song list), and a song's total is damped by its own playlist
count to the power `DAMPING` so the most-listed songs do not top every list (RP3beta's
idea). Scores are divided by the question's best song other than a seed, so they add
to cosines on a fixed 0..1 scale whatever the number of seeds or their playlists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recommender.data import Catalog

DAMPING = 0.2


class PlaylistWalk:
    """The playlist graph of a catalog's memberships, as two sparse matrices."""

    def __init__(
        self,
        playlists: np.ndarray,
        tracks: np.ndarray,
        num_tracks: int,
        num_playlists: int | None = None,
    ) -> None:
        playlists = np.asarray(playlists, dtype=np.int64)
        tracks = np.asarray(tracks, dtype=np.int64)
        if num_playlists is None:
            num_playlists = int(playlists.max()) + 1 if len(playlists) else 0
        ones = np.ones(len(tracks), dtype=np.float32)
        # track -> its playlists (one vote each), playlist -> its songs (vote split by length)
        self._lists_of = sp.csr_matrix((ones, (tracks, playlists)), (num_tracks, num_playlists))
        length = np.bincount(playlists, minlength=num_playlists).astype(np.float32)
        share = 1.0 / np.maximum(length, 1.0)
        self._songs_of = sp.csr_matrix(
            (share[playlists], (playlists, tracks)), (num_playlists, num_tracks)
        )
        count = np.bincount(tracks, minlength=num_tracks).astype(np.float32)
        self._damp = (1.0 / np.maximum(count, 1.0) ** DAMPING).astype(np.float32)
        self.num_tracks = num_tracks

    @classmethod
    def of_catalog(cls, catalog: Catalog) -> PlaylistWalk:
        """Over a catalog's memberships (playlist and track node numbers)."""
        members = catalog.memberships
        return cls(
            members["playlist"].to_numpy(),
            members["track"].to_numpy(),
            catalog.num_tracks,
            catalog.num_playlists,
        )

    def reached(self, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The songs two steps from the seed rows, in row order, and their scores (the best
        song other than a seed scores 1);
        songs it cannot reach are left out (their score is 0)."""
        votes = self._lists_of[np.asarray(list(rows), dtype=np.int64)].sum(axis=0)
        lists = np.flatnonzero(np.asarray(votes).ravel())
        if not len(lists):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        weights = np.asarray(votes).ravel()[lists].astype(np.float32)
        reached = sp.csr_matrix(weights[None, :]) @ self._songs_of[lists]
        reached.sum_duplicates()  # one entry per song, in row order
        songs = reached.indices.astype(np.int64)
        scores = reached.data.astype(np.float32) * self._damp[songs]
        # The scale is the best song that can be recommended, not a seed (a seed reaches
        # itself through every one of its playlists and would shrink everyone else's).
        others = ~np.isin(songs, np.asarray(list(rows), dtype=np.int64))
        best = float(scores[others].max()) if others.any() else 0.0
        return songs, (scores / best if best > 0 else scores)

    @staticmethod
    def lookup(walked: tuple[np.ndarray, np.ndarray], at: np.ndarray) -> np.ndarray:
        """The scores `reached` gave the rows `at` (0 for a row it did not reach)."""
        songs, scores = walked
        if not len(songs):
            return np.zeros(len(at), dtype=np.float32)
        spot = np.minimum(np.searchsorted(songs, at), len(songs) - 1)
        return np.where(songs[spot] == at, scores[spot], 0.0).astype(np.float32)

    def scores(self, rows: Sequence[int]) -> np.ndarray:
        """Every catalog row's score for the seed rows (0 where the walk cannot reach)."""
        out = np.zeros(self.num_tracks, dtype=np.float32)
        songs, scores = self.reached(rows)
        out[songs] = scores
        return out
