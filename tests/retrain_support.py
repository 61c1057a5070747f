"""Small real data for the retrain tests: a few hundred rows of the real dataset.

Training on the whole catalog takes ~20 s; these helpers keep retrain tests fast while
still using real songs, playlists and audio features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recommender import Recommender
from recommender.artifacts import new_metadata
from recommender.data import catalog_from_rows, read_rows

SMALL_PLAYLISTS = 6


def write_small_csv(dataset: Path, out: Path, playlists: int = SMALL_PLAYLISTS) -> Path:
    """The rows of the first few playlists of the real CSV (a few hundred rows)."""
    rows = read_rows(dataset)
    keep = rows["playlist_id"].drop_duplicates().head(playlists)
    rows.loc[rows["playlist_id"].isin(keep)].to_csv(out, index=False)
    return out


def write_broken_csv(small_csv: Path, out: Path) -> Path:
    """The small CSV with one non-numeric audio feature: load_catalog raises DataError."""
    rows = read_rows(small_csv)
    rows.loc[rows.index[3], "danceability"] = "very danceable"
    rows.to_csv(out, index=False)
    return out


def quick_model(csv: Path, seed: int = 0) -> Recommender:
    """A real Recommender over the small CSV with random (but valid) embeddings.

    Store tests care about files and pointers, not quality, so they skip training.
    """
    catalog = catalog_from_rows(read_rows(csv))
    embeddings = np.random.default_rng(seed).normal(size=(catalog.num_tracks, 16))
    metadata = new_metadata(catalog, model="random", params={"seed": seed}, train_seconds=0.0)
    return Recommender(catalog, embeddings.astype(np.float32), metadata)
