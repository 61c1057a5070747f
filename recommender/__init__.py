"""Music recommendations from a playlist–track graph. Knows nothing of Discord."""

from recommender.data import Catalog, DataError, load_catalog
from recommender.ranking import ArtistCap
from recommender.recommender import DEFAULT_MODEL, Recommender, UnknownTrackError
from recommender.results import (
    ArtistResult,
    Reading,
    Resolution,
    SimilarQuery,
    TrackResult,
    Understanding,
)

__all__ = [
    "DEFAULT_MODEL",
    "ArtistCap",
    "ArtistResult",
    "Catalog",
    "DataError",
    "Reading",
    "Recommender",
    "Resolution",
    "SimilarQuery",
    "TrackResult",
    "Understanding",
    "UnknownTrackError",
    "load_catalog",
]
