"""Music recommendations from a playlist–track graph. Knows nothing of Discord."""

from recommender.data import Catalog, DataError, load_catalog
from recommender.recommender import (
    DEFAULT_MODEL,
    Recommender,
    Resolution,
    TrackResult,
    UnknownTrackError,
)

__all__ = [
    "DEFAULT_MODEL",
    "Catalog",
    "DataError",
    "Recommender",
    "Resolution",
    "TrackResult",
    "UnknownTrackError",
    "load_catalog",
]
