"""What every answer reads about the catalog, computed once per model.

Finding a song, ranking, refining ("no remixes", "other artists") and explaining
(`why 3`) all ask the same questions of the catalog: which rows are versions of one
song, who the artist is once "Beyoncé" and "BEYONCE" are the same person, which
tracks are remixes or live recordings, which playlists hold a track. The `Recommender`
builds one `CatalogIndex` when it is trained or loaded and every module reads it.

The parts only follow-ups and explanations need (audio feature columns, remix/live
flags, the playlist graph) are built on first use, or ahead of time by `warm_up`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from recommender.artists import ArtistIndex
from recommender.data import Catalog
from recommender.search import TitleIndex, normalize, song_key

# Audio features people steer by ("calmer", "faster", "no live").
STEERABLE_FEATURES: tuple[str, ...] = (
    "energy",
    "danceability",
    "acousticness",
    "valence",
    "tempo",
    "instrumentalness",
    "speechiness",
    "liveness",
)
LIVENESS_LIVE = 0.8  # Spotify: above 0.8, a strong likelihood the track was performed live

_QUALIFIER = re.compile(r"[(\[{](.*?)[)\]}]|\s[-–—]\s(.*)$")
_REMIX = re.compile(r"re-?mix|\brmx\b")
_REMIX_QUALIFIER = re.compile(r"\b(mix|bootleg|rework|vip|dub)\b")
_NOT_REMIX_QUALIFIER = re.compile(r"\b(original|album|radio|single|mono|stereo|20\d\d|19\d\d)\b")
_LIVE_QUALIFIER = re.compile(r"\b(live|en vivo|ao vivo|unplugged|in concert)\b")
_LIVE_ALBUM = re.compile(r"^(live (at|from|in|on)|mtv unplugged)\b|\blive$|\(live\b")


def _qualifiers(name: str) -> str:
    """The bracketed and ' - ' parts of a title ("Remastered 2011", "Live at Wembley")."""
    parts = [a or b for a, b in _QUALIFIER.findall(str(name))]
    return normalize(" ".join(p for p in parts if p))


def _codes(values: list[str] | pd.Series) -> np.ndarray:
    """One small integer per distinct value, in order of first appearance."""
    return pd.factorize(pd.Series(values, dtype=object))[0].astype(np.int64)


@dataclass(frozen=True)
class PlaylistGraph:
    """Which playlists hold each track and each artist (the model's saved memberships)."""

    names: list[str]  # per playlist
    genres: list[str]  # per playlist
    playlists_of: list[set[int]]  # per track row
    tracks_of: list[set[int]]  # per playlist
    playlists_of_artist: dict[int, set[int]]  # per artist code


class CatalogIndex:
    """Per-row facts of one catalog: ids, names, song and artist codes, flags, playlists."""

    def __init__(self, catalog: Catalog, search_text: pd.DataFrame | None = None) -> None:
        """`search_text`: the normalised title, artist and song key of every row, as
        `search_text()` gave them when the model was saved (saves seconds of text
        normalisation when a big catalog loads); computed here when not given."""
        self.catalog = catalog
        tracks = catalog.tracks
        # Plain lists: building a result must not pay for a pandas row lookup.
        self.track_ids: list[str] = tracks["track_id"].astype(str).tolist()
        self.names: list[str] = tracks["track_name"].astype(str).tolist()
        self.artist_names: list[str] = tracks["track_artist"].astype(str).tolist()
        self.album_names: list[str] = tracks["track_album_name"].astype(str).tolist()
        self.row_of: dict[str, int] = {t: i for i, t in enumerate(self.track_ids)}
        self.years = tracks["release_year"].to_numpy(dtype=np.int64)
        self.popularity = tracks["track_popularity"].to_numpy(dtype=np.float64)
        if search_text is not None:
            self.titles = search_text["title"].astype(str).tolist()
            self.artists = search_text["artist"].astype(str).tolist()
            self.song_keys = search_text["song_key"].astype(str).tolist()
        else:
            # Normalised text: what people type is compared with these.
            self.titles = [normalize(n) for n in self.names]
            self.artists = [normalize(a) for a in self.artist_names]
            # "Other versions of the same song" (single, album cut, remaster) share a key.
            self.song_keys = [song_key(n, a) for n, a in zip(self.names, self.artists, strict=True)]
        if search_text is not None and "song_code" in search_text.columns:
            self.song_codes = search_text["song_code"].to_numpy(dtype=np.int64)
            self.artist_codes = search_text["artist_code"].to_numpy(dtype=np.int64)
            self.album_codes = search_text["album_code"].to_numpy(dtype=np.int64)
        else:
            self.song_codes = _codes(self.song_keys)
            self.artist_codes = _codes(self.artists)
            self.album_codes = _codes(tracks["track_album_id"].astype(str))
        self.search = TitleIndex(
            self.row_of, self.titles, self.artists, self.song_keys, self.popularity, self.years
        )

    def __len__(self) -> int:
        return len(self.track_ids)

    def search_text(self) -> pd.DataFrame:
        """The normalised text and codes of every row, for a saved model to load instead
        of redo."""
        return pd.DataFrame(
            {
                "title": self.titles,
                "artist": self.artists,
                "song_key": self.song_keys,
                "song_code": self.song_codes,
                "artist_code": self.artist_codes,
                "album_code": self.album_codes,
            }
        )

    def warm_up(self) -> None:
        """Build the parts follow-ups and explanations use now, not on their first use."""
        for part in ("features", "remix", "live", "playlists"):
            getattr(self, part)
        self.search.warm_up()
        self.by_artist.warm_up()

    # -- built on first use ----------------------------------------------------------------
    @cached_property
    def by_artist(self) -> ArtistIndex:
        """The catalog's artists: finding one by name, their songs best known first."""
        return ArtistIndex(self.artist_codes, self.artists, self.artist_names, self.popularity)

    @cached_property
    def features(self) -> dict[str, np.ndarray]:
        """The steerable audio features, one float array each."""
        tracks = self.catalog.tracks
        return {name: tracks[name].to_numpy(dtype=np.float64) for name in STEERABLE_FEATURES}

    @cached_property
    def _qualifier_text(self) -> tuple[list[str], list[str], list[str]]:
        """Title qualifiers, album qualifiers and normalised album names."""
        return (
            [_qualifiers(n) for n in self.names],
            [_qualifiers(a) for a in self.album_names],
            [normalize(a) for a in self.album_names],
        )

    @cached_property
    def remix(self) -> np.ndarray:
        """Remixes: "(… Remix)", "- Bootleg", or from a remix album (unless "Original")."""
        qualifiers, album_qualifiers, _ = self._qualifier_text
        return np.array(
            [
                bool(_REMIX.search(t))
                or (bool(_REMIX.search(aq)) and "original" not in q)
                or (bool(_REMIX_QUALIFIER.search(q)) and not _NOT_REMIX_QUALIFIER.search(q))
                for t, q, aq in zip(self.titles, qualifiers, album_qualifiers, strict=True)
            ],
            dtype=bool,
        )

    @cached_property
    def live(self) -> np.ndarray:
        """Live recordings: "- Live", a live album, or Spotify's liveness says so."""
        qualifiers, album_qualifiers, albums = self._qualifier_text
        named = np.array(
            [
                bool(_LIVE_QUALIFIER.search(q))
                or bool(_LIVE_QUALIFIER.search(aq))
                or bool(_LIVE_ALBUM.search(a))
                for q, aq, a in zip(qualifiers, album_qualifiers, albums, strict=True)
            ],
            dtype=bool,
        )
        return named | (self.features["liveness"] >= LIVENESS_LIVE)

    @cached_property
    def playlists(self) -> PlaylistGraph:
        catalog = self.catalog
        playlists_of: list[set[int]] = [set() for _ in range(len(self))]
        tracks_of: list[set[int]] = [set() for _ in range(catalog.num_playlists)]
        for playlist, track in catalog.memberships[["playlist", "track"]].itertuples(
            index=False, name=None
        ):
            playlists_of[int(track)].add(int(playlist))
            tracks_of[int(playlist)].add(int(track))
        by_artist: dict[int, set[int]] = {}
        for row, artist in enumerate(self.artist_codes.tolist()):
            by_artist.setdefault(artist, set()).update(playlists_of[row])
        return PlaylistGraph(
            names=catalog.playlists["playlist_name"].astype(str).tolist(),
            genres=catalog.playlists["playlist_genre"].astype(str).tolist(),
            playlists_of=playlists_of,
            tracks_of=tracks_of,
            playlists_of_artist=by_artist,
        )

    # -- questions -------------------------------------------------------------------------
    def mentions(self, rows: np.ndarray, artist: str) -> np.ndarray:
        """Rows by `artist` (normalised) or featuring them in the title ("lovely (with Khalid)")."""
        pattern = re.compile(rf"(^| ){re.escape(artist)}( |$)")
        return np.array(
            [self.artists[r] == artist or bool(pattern.search(self.titles[r])) for r in rows],
            dtype=bool,
        )


__all__ = ["CatalogIndex", "PlaylistGraph"]
