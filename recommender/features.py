"""Track features: what a track node starts from before any message passing.

Only columns that describe the track itself are used; playlist columns never are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.data import AUDIO_FEATURES


def audio_features(tracks: pd.DataFrame) -> np.ndarray:
    """The twelve audio features, standardised per column (z-scores, float32)."""
    values = tracks.loc[:, list(AUDIO_FEATURES)].to_numpy(dtype=np.float64)
    values[:, AUDIO_FEATURES.index("duration_ms")] = np.log1p(
        np.clip(values[:, AUDIO_FEATURES.index("duration_ms")], 0, None)
    )
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    standardised = (values - mean) / np.where(std > 0, std, 1.0)
    return np.nan_to_num(standardised).astype(np.float32)
