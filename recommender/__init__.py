"""Music recommendations from a playlist–track graph. Knows nothing of Discord."""

from recommender.data import Catalog, DataError, load_catalog
from recommender.placement import Basis, TrackMetadata
from recommender.ranking import ArtistCap
from recommender.recommender import (
    DEFAULT_MODEL,
    PlacedTrack,
    PlaceQuery,
    Recommender,
    Resolution,
    SimilarQuery,
    TrackResult,
    UnknownTrackError,
)

__all__ = [
    "DEFAULT_MODEL",
    "ArtistCap",
    "Basis",
    "Catalog",
    "DataError",
    "PlaceQuery",
    "PlacedTrack",
    "Recommender",
    "Resolution",
    "SimilarQuery",
    "TrackMetadata",
    "TrackResult",
    "UnknownTrackError",
    "load_catalog",
]
