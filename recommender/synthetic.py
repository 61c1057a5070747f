"""Seeded synthetic catalogs shaped like the Million Playlist Dataset, in the CSV schema.

The real catalog has 29k memberships; to know what happens at 10x and 100x before a
bigger catalog arrives we generate one whose shape is the MPD's: Zipf-like track
popularity, playlists of mean length 66, about 3 tracks per album and 6-8 per artist.
50 latent genres give it structure a model can learn and a hold-out can score: every
artist leans towards one genre (and so do its tracks' audio features), and every
playlist draws most of its tracks from its genre, some from artists already in it.

`playlist_genre` holds the latent genre, so the evaluation's genre figures and the
genre-popularity baseline can read it; models never see playlist columns as features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.data import AUDIO_FEATURES, DATASET_COLUMNS

GENRES = 50
MEAN_PLAYLIST_LENGTH = 66
TRACKS_PER_ALBUM = 3
TRACKS_PER_ARTIST = 7
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Shape:
    """How big a synthetic catalog is: playlists and catalog tracks."""

    playlists: int
    tracks: int


# Sizes named by their membership count; track counts grow as they do in the MPD.
SIZES: dict[str, Shape] = {
    "29k": Shape(playlists=500, tracks=28_000),
    "326k": Shape(playlists=5_690, tracks=107_000),
    "3.3M": Shape(playlists=57_500, tracks=404_000),
}


def _ids(prefix: str, count: int, rng: np.random.Generator, width: int = 22) -> np.ndarray:
    """Unique Spotify-like ids (22 base-62 characters), seeded."""
    digits = rng.integers(0, len(_ALPHABET), size=(count, width - len(prefix)))
    letters = np.array(list(_ALPHABET))[digits]
    # The row number in base 62 at the end keeps ids unique whatever the random part is.
    number = np.arange(count)
    for position in range(1, 5):
        letters[:, -position] = np.array(list(_ALPHABET))[number % 62]
        number = number // 62
    return np.array([prefix + "".join(row) for row in letters])


def _words(rng: np.random.Generator, count: int) -> np.ndarray:
    """A vocabulary of pronounceable made-up words."""
    consonants = np.array(list("bcdfghjklmnprstvwz"))
    vowels = np.array(list("aeiou"))
    syllables = rng.integers(1, 4, size=count)
    words = []
    for n in syllables:
        parts = [
            consonants[rng.integers(len(consonants))] + vowels[rng.integers(5)] for _ in range(n)
        ]
        words.append("".join(parts))
    return np.array(sorted(set(words)))


def _phrases(
    rng: np.random.Generator, vocabulary: np.ndarray, count: int, most: int, least: int = 1
) -> list[str]:
    lengths = rng.integers(least, most + 1, size=count)
    picks = rng.integers(0, len(vocabulary), size=(count, most))
    return [" ".join(vocabulary[picks[i, : lengths[i]]]).title() for i in range(count)]


def generate(shape: Shape | str, seed: int = 0) -> pd.DataFrame:
    """Rows in the spotify_songs.csv schema (one per playlist membership, plus one blank-
    playlist row per track that no playlist holds), as `read_rows` would give them."""
    if isinstance(shape, str):
        shape = SIZES[shape]
    rng = np.random.default_rng(seed)
    n_tracks = shape.tracks
    n_artists = max(1, n_tracks // TRACKS_PER_ARTIST)
    n_albums = max(1, n_tracks // TRACKS_PER_ALBUM)

    # Artists lean towards one genre; albums belong to one artist; tracks to one album.
    artist_genre = rng.integers(0, GENRES, size=n_artists)
    album_artist = np.sort(rng.integers(0, n_artists, size=n_albums))
    album_artist[:n_artists] = np.arange(min(n_artists, n_albums))  # every artist has one
    album_artist.sort()
    track_album = np.sort(rng.integers(0, n_albums, size=n_tracks))
    track_album[:n_albums] = np.arange(min(n_albums, n_tracks))
    track_album.sort()
    track_artist = album_artist[track_album]
    stray = rng.random(n_tracks) < 0.15  # some tracks sit outside their artist's genre
    track_genre = np.where(
        stray, rng.integers(0, GENRES, size=n_tracks), artist_genre[track_artist]
    )

    # Zipf-like popularity: weight 1/rank^1.1 over a random order of the tracks, times an
    # artist factor so an artist's tracks are popular together.
    rank = rng.permutation(n_tracks) + 1
    artist_factor = rng.lognormal(0.0, 1.0, size=n_artists)
    weight = artist_factor[track_artist] / rank**1.1

    # Audio features: a genre centroid plus noise.
    centroids = rng.normal(0.0, 1.0, size=(GENRES, len(AUDIO_FEATURES)))
    audio = centroids[track_genre] + rng.normal(0.0, 0.8, size=(n_tracks, len(AUDIO_FEATURES)))

    # Playlists: a genre, a length around 66, members mostly by popularity within the
    # genre, some from artists already in the list, a few from anywhere.
    by_genre = [np.flatnonzero(track_genre == g) for g in range(GENRES)]
    genre_cdf = [np.cumsum(weight[rows]) / weight[rows].sum() for rows in by_genre]
    global_cdf = np.cumsum(weight) / weight.sum()
    tracks_of_artist_start = np.searchsorted(track_artist, np.arange(n_artists))
    tracks_of_artist_end = np.searchsorted(track_artist, np.arange(n_artists), side="right")
    playlist_genre = rng.integers(0, GENRES, size=shape.playlists)
    lengths = np.clip(rng.gamma(2.0, MEAN_PLAYLIST_LENGTH / 2.0, size=shape.playlists), 5, 250)
    member_playlist: list[np.ndarray] = []
    member_track: list[np.ndarray] = []
    for p in range(shape.playlists):
        length = int(lengths[p])
        draws = 2 * length  # popular tracks repeat; draw twice as many, keep `length` distinct
        g = playlist_genre[p]
        kind = rng.random(draws)
        from_genre = by_genre[g][
            np.minimum(np.searchsorted(genre_cdf[g], rng.random(draws)), len(by_genre[g]) - 1)
        ]
        anywhere = np.minimum(np.searchsorted(global_cdf, rng.random(draws)), n_tracks - 1)
        picked = np.where(kind < 0.85, from_genre, anywhere)
        # About a quarter of the picks are another track by an artist already listed.
        same_artist = kind > 0.75
        if same_artist.any():
            source = picked[rng.integers(0, draws, size=int(same_artist.sum()))]
            artists = track_artist[source]
            start, end = tracks_of_artist_start[artists], tracks_of_artist_end[artists]
            picked[same_artist] = start + (rng.random(len(artists)) * (end - start)).astype(int)
        _, first = np.unique(picked, return_index=True)
        picked = picked[np.sort(first)[:length]]
        member_playlist.append(np.full(len(picked), p))
        member_track.append(picked)
    playlists = np.concatenate(member_playlist)
    tracks = np.concatenate(member_track)
    orphans = np.setdiff1d(np.arange(n_tracks), tracks)
    row_track = np.concatenate([tracks, orphans])
    row_playlist = np.concatenate([playlists, np.full(len(orphans), -1)])

    vocabulary = _words(rng, 6000)
    titles = np.array(_phrases(rng, vocabulary, n_tracks, 4), dtype=object)
    artist_names = np.array(_phrases(rng, vocabulary, n_artists, 2, least=2), dtype=object)
    album_names = np.array(_phrases(rng, vocabulary, n_albums, 3), dtype=object)
    track_ids = _ids("", n_tracks, rng)
    album_ids = _ids("", n_albums, rng)
    playlist_ids = _ids("", shape.playlists, rng)
    popularity = np.clip(
        100 * (np.log(weight) - np.log(weight).min()) / np.ptp(np.log(weight)), 0, 100
    )
    years = rng.integers(1970, 2021, size=n_albums)

    in_playlist = row_playlist >= 0
    safe_playlist = np.where(in_playlist, row_playlist, 0)
    genre_names = np.array([f"genre{g:02d}" for g in range(GENRES)], dtype=object)
    frame = {
        "track_id": track_ids[row_track],
        "track_name": titles[row_track],
        "track_artist": artist_names[track_artist[row_track]],
        "track_popularity": np.round(popularity[row_track]).astype(int),
        "track_album_id": album_ids[track_album[row_track]],
        "track_album_name": album_names[track_album[row_track]],
        "track_album_release_date": years[track_album[row_track]].astype(str),
        "playlist_name": np.where(in_playlist, "Mix " + safe_playlist.astype(str), ""),
        "playlist_id": np.where(in_playlist, playlist_ids[safe_playlist], ""),
        "playlist_genre": np.where(in_playlist, genre_names[playlist_genre[safe_playlist]], ""),
        "playlist_subgenre": np.where(in_playlist, genre_names[playlist_genre[safe_playlist]], ""),
    }
    raw = audio[row_track]
    for column, values in zip(AUDIO_FEATURES, raw.T, strict=True):
        frame[column] = np.round(values, 4)
    rows = pd.DataFrame(frame).loc[:, list(DATASET_COLUMNS)]
    return rows


__all__ = ["GENRES", "SIZES", "Shape", "generate"]
