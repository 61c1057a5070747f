"""What the recommender answers with: tracks, artists, and how a request was read.

Plain frozen dataclasses, so the bot, the console and library users all read the same
typed values (no tensors, no dict keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from recommender.ranking import ArtistCap
from recommender.search import EXACT_TITLE

SPOTIFY_TRACK_URL = "https://open.spotify.com/track/{}"
# A song added from MusicBrainz has no Spotify id; its link is its MusicBrainz page.
MUSICBRAINZ_PREFIX = "musicbrainz:"
MUSICBRAINZ_RECORDING_URL = "https://musicbrainz.org/recording/{}"


@dataclass(frozen=True)
class TrackResult:
    """One track as a person sees it; `score` is the model's score (cosine similarity plus
    the model's popularity prior, see `Recommender.scores_for_rows`) or match confidence;
    `match` is what a member reads for a recommendation (`ranking.matches`: 0..1, never
    above the pick listed before it)."""

    track_id: str
    name: str
    artist: str
    album: str = ""
    release_year: int = 0
    popularity: int = 0
    score: float = 0.0
    match: float = 0.0

    @property
    def url(self) -> str:
        if self.track_id.startswith(MUSICBRAINZ_PREFIX):
            return MUSICBRAINZ_RECORDING_URL.format(self.track_id[len(MUSICBRAINZ_PREFIX) :])
        return SPOTIFY_TRACK_URL.format(self.track_id)

    @property
    def label(self) -> str:
        return f"{self.name} — {self.artist}"


@dataclass(frozen=True)
class Resolution:
    """What a free-text query resolved to.

    `best` is None when nothing matched well enough; then `suggestions` holds
    "did you mean" candidates. `alternatives` are other tracks the text may have
    meant (a shared title such as "Hello"). `not_a_song` names the kind of Spotify link
    that was given instead of a song ("album", "playlist", …, "local" for a local file).
    """

    query: str
    best: TrackResult | None
    alternatives: list[TrackResult] = field(default_factory=list)
    suggestions: list[TrackResult] = field(default_factory=list)
    not_a_song: str | None = None

    @property
    def found(self) -> bool:
        return self.best is not None

    @property
    def exact(self) -> bool:
        """The whole text names a catalog title (with its artist, or a Spotify link), not a
        guess: words in it such as "remix" or "live" are part of the song's name."""
        return self.best is not None and self.best.score >= EXACT_TITLE


@dataclass(frozen=True)
class SimilarQuery:
    """One `similar` question, for asking many at once (`Recommender.similar_many`)."""

    track_id: str
    k: int = 10
    artist_cap: ArtistCap | None = None


@dataclass(frozen=True)
class ArtistResult:
    """An artist of the catalog as a person sees it.

    `popularity` is their best-known song's, which is how the catalog says how well known
    they are (a band called Queen against a little-known song titled "Queen");
    `top_track` is that song, what stands for the artist where only a song will do (a
    listening session's song list). `score` is the match confidence (100: the name as the
    catalog spells it, typos aside)."""

    name: str
    tracks: int
    popularity: int
    top_track: TrackResult
    score: float = 0.0

    @property
    def label(self) -> str:
        return self.name


class Reading(Enum):
    """What a request was understood to name."""

    SONG = "song"  # a song of the catalog
    ARTIST = "artist"  # an artist of the catalog: songs like them
    MISSING_SONG = "missing song"  # a song the catalog lacks, by an artist it has
    NOT_FOUND = "not found"  # nothing here; `suggestions` holds what is close


@dataclass(frozen=True)
class Understanding:
    """How one request was read: the song, the artist, or a song the catalog lacks.

    `song` is set for SONG; `artist` for ARTIST and MISSING_SONG (the artist named, who
    is answered for instead); `title` is the title asked for when the catalog lacks it
    (MISSING_SONG, or NOT_FOUND after `title - artist` with an artist it lacks too).
    `songs` and `artists` are the other readings of ambiguous text ("queen": the band,
    or the song titled Queen); `suggestions` are close songs when nothing was found,
    never presented as the song asked for. `resolution` is the song lookup underneath
    (`Recommender.resolve`)."""

    query: str
    kind: Reading
    resolution: Resolution
    song: TrackResult | None = None
    artist: ArtistResult | None = None
    title: str = ""
    songs: list[TrackResult] = field(default_factory=list)
    artists: list[ArtistResult] = field(default_factory=list)
    suggestions: list[TrackResult] = field(default_factory=list)
    # How surely the whole text names what was found (a song's match score; 100 for an
    # artist's exact name): a request with words after it is read both ways and the
    # surer reading wins.
    score: float = 0.0

    @property
    def found(self) -> bool:
        return self.kind in (Reading.SONG, Reading.ARTIST, Reading.MISSING_SONG)

    @property
    def exact(self) -> bool:
        """The whole text names a song or an artist exactly, not a guess."""
        return self.score >= EXACT_TITLE and self.kind in (Reading.SONG, Reading.ARTIST)

    @property
    def not_a_song(self) -> str | None:
        return self.resolution.not_a_song

    @property
    def seed_track(self) -> TrackResult | None:
        """The one song that stands for this answer: the song, or the artist's best known."""
        if self.song is not None:
            return self.song
        return self.artist.top_track if self.artist is not None else None

    @property
    def summary(self) -> str:
        """What was understood, in a few words ("the artist Dua Lipa")."""
        if self.kind is Reading.SONG and self.song is not None:
            return f"{self.song.name} — {self.song.artist}"
        if self.kind is Reading.ARTIST and self.artist is not None:
            return f"the artist {self.artist.name}"
        if self.kind is Reading.MISSING_SONG and self.artist is not None:
            return f"{self.title} — {self.artist.name} (not in the catalog)"
        return "nothing in the catalog"


__all__ = [
    "SPOTIFY_TRACK_URL",
    "ArtistResult",
    "Reading",
    "Resolution",
    "SimilarQuery",
    "TrackResult",
    "Understanding",
]
