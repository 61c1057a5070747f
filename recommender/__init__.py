"""Music recommendations from a playlist–track graph. Knows nothing of Discord."""

from recommender.data import Catalog, DataError, load_catalog
from recommender.ranking import ArtistCap
from recommender.recommender import (
    DEFAULT_MODEL,
    Recommender,
    Resolution,
    SimilarQuery,
    TrackResult,
    UnknownTrackError,
)

__all__ = [
    "DEFAULT_MODEL",
    "ArtistCap",
    "Catalog",
    "DataError",
    "Recommender",
    "Resolution",
    "SimilarQuery",
    "TrackResult",
    "UnknownTrackError",
    "load_catalog",
]
