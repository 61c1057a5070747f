"""Track features: what a track node starts from before any message passing.

Only columns that describe the track itself are used; playlist columns never are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.data import AUDIO_FEATURES


def audio_features(tracks: pd.DataFrame) -> np.ndarray:
    """The twelve audio features, standardised per column (z-scores, float32).

    A missing value (a catalog without audio features) becomes 0, the column's mean, so
    such a track starts from its other content and its artist, album and playlists."""
    values = tracks.loc[:, list(AUDIO_FEATURES)].to_numpy(dtype=np.float64, na_value=np.nan)
    values[:, AUDIO_FEATURES.index("duration_ms")] = np.log1p(
        np.clip(values[:, AUDIO_FEATURES.index("duration_ms")], 0, None)
    )
    known = np.isfinite(values)
    count = known.sum(axis=0)
    filled = np.where(known, values, 0.0)
    mean = filled.sum(axis=0) / np.maximum(count, 1)
    std = np.sqrt((np.where(known, values - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1))
    standardised = np.where(known, (values - mean) / np.where(std > 0, std, 1.0), 0.0)
    return standardised.astype(np.float32)


# -- content features for the hetero-lightgcn model ---------------------------------------
# Words that mark a version of a song; playlists ("Pop Remix", "Acoustic Covers") group by them.
TITLE_TOKENS: tuple[str, ...] = (
    "remix",
    "live",
    "acoustic",
    "feat",
    "remaster",
    "edit",
    "mix",
    "version",
    "instrumental",
    "radio",
    "extended",
    "cover",
    "unplugged",
    "demo",
    "original",
    "with",
    "vip",
    "bootleg",
    "rework",
    "mashup",
)
# Release-year buckets: coarse for old music, one bucket per year for the recent years
# that most playlists are made of.
RELEASE_YEAR_EDGES: tuple[int, ...] = (
    1970,
    1980,
    1990,
    2000,
    2005,
    2010,
    2013,
    2015,
    2017,
    2018,
    2019,
    2020,
)


def content_features(tracks: pd.DataFrame) -> np.ndarray:
    """Audio z-scores, release-year buckets, version words in the title, popularity.

    Everything here is known about a catalog-only track the day it appears, so cold
    tracks get a meaningful starting vector. Playlist columns are not in `tracks`.
    """
    audio = audio_features(tracks)
    years = tracks["release_year"].to_numpy(dtype=np.int64)
    buckets = np.zeros((len(tracks), len(RELEASE_YEAR_EDGES) + 2), dtype=np.float32)
    bucket = np.searchsorted(np.asarray(RELEASE_YEAR_EDGES), years, side="right")
    bucket = np.where(years > 0, bucket, len(RELEASE_YEAR_EDGES) + 1)  # last: unknown year
    buckets[np.arange(len(tracks)), bucket] = 1.0
    titles = tracks["track_name"].astype(str).str.lower()
    tokens = np.stack(
        [titles.str.contains(rf"\b{token}", regex=True).to_numpy() for token in TITLE_TOKENS],
        axis=1,
    ).astype(np.float32)
    popularity = tracks["track_popularity"].to_numpy(dtype=np.float32)[:, None] / 100.0
    return np.concatenate([audio, buckets, tokens, popularity], axis=1).astype(np.float32)
