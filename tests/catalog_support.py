"""Hand-made catalog rows for tests that need a few named tracks and no playlists."""

from __future__ import annotations

from recommender.data import AUDIO_FEATURES


def track_row(track_id: str, name: str, artist: str, popularity: str = "50") -> dict[str, str]:
    """One CSV row in the spotify_songs schema: a track in no playlist, mid audio features."""
    return {
        "track_id": track_id,
        "track_name": name,
        "track_artist": artist,
        "track_popularity": popularity,
        "track_album_id": f"album-{track_id}",
        "track_album_name": "Album",
        "track_album_release_date": "2015",
        "playlist_name": "",
        "playlist_id": "",
        "playlist_genre": "",
        "playlist_subgenre": "",
        **dict.fromkeys(AUDIO_FEATURES, "0.5"),
    }
