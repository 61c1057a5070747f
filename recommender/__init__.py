"""Music recommendations from a playlist–track graph. Knows nothing of Discord."""

from recommender.data import Catalog, DataError, load_catalog
from recommender.placement import Basis, TrackMetadata
from recommender.placing import PlacedTrack, PlaceQuery
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
    "Basis",
    "Catalog",
    "DataError",
    "PlaceQuery",
    "PlacedTrack",
    "Reading",
    "Recommender",
    "Resolution",
    "SimilarQuery",
    "TrackMetadata",
    "TrackResult",
    "Understanding",
    "UnknownTrackError",
    "load_catalog",
]
