""" "What I'm listening to" as a seed (LISTENING=on): the song a member plays on Spotify,
as Discord's presence shows it, turned into the text `recommend` and `session add` take.

No Discord objects here: the front end reads the presence into a `NowPlaying`. Nothing of
it is stored beyond what a typed song would store (the query's text, `spotify:track:<id>`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.core.replies import Reply
from bot.core.text import md
from bot.features.catalog.sources import MAX_ARTISTS, MAX_NAME, MAX_TITLE, clean
from recommender import Recommender, TrackMetadata
from recommender.search import normalize, spotify_track_id, track_uri


@dataclass(frozen=True)
class NowPlaying:
    """A Spotify track from a member's presence: its id, title and artists."""

    track_id: str | None
    title: str
    artists: Sequence[str]
    album: str = ""


def seed_text(
    model: Recommender,
    playing: NowPlaying,
    remember: Callable[[TrackMetadata], None] | None = None,
) -> str | Reply:
    """The text that picks this track in `model`: its Spotify id if the catalog has it,
    else the catalog's song with the same title and artist, else (with `remember`, when
    songs the catalog lacks may be added, and its artist is in the catalog) its Spotify
    id, its title, artists and album remembered so it is added with no lookup, else an honest "I don't know that one yet"
    (never a merely similar-sounding song)."""
    if playing.track_id and playing.track_id in model:
        return track_uri(playing.track_id)
    artists = {normalize(a) for a in playing.artists if a}
    if playing.title and artists:
        best = model.resolve(f"{playing.title} - {next(iter(playing.artists))}").best
        if (
            best is not None
            and normalize(best.name) == normalize(playing.title)
            and normalize(best.artist) in artists
        ):
            return track_uri(best.track_id)
    placeable = any(model.knows_artist(a) for a in playing.artists if a)
    if remember is not None and playing.track_id and playing.title and placeable:
        # A presence names no genres or year: only a song by an artist the catalog has can
        # be placed; anything else keeps the honest answer below.
        track_id = spotify_track_id(playing.track_id)
        if track_id is not None:
            remember(presence_song(track_id, playing))
            return track_uri(track_id)
    artist = ", ".join(playing.artists) or "?"
    return Reply.info(
        "I don't know that one yet",
        f"**{md(playing.title or '?')}** — {md(artist)} isn't in my catalog, so I can't "
        "find songs like it. Name another song with `/recommend song`.",
    )


def presence_song(track_id: str, playing: NowPlaying) -> TrackMetadata:
    """What a presence says of a song, bounded as anything from outside is."""
    artists = tuple(a for a in (clean(x, MAX_NAME) for x in playing.artists[:MAX_ARTISTS]) if a)
    return TrackMetadata(
        source="presence",
        source_id=track_id,
        title=clean(playing.title, MAX_TITLE) or "?",
        artists=artists or ("?",),
        album=clean(playing.album, MAX_TITLE),
    )


def not_listening_reply(own: bool, name: str = "") -> Reply:
    """No Spotify activity to start from (none, hidden, or not shared with the server)."""
    if own:
        return Reply.info(
            "What should I start from?",
            "I can't see you listening to anything on Spotify right now. Name a song, or "
            "play one with Spotify connected to Discord and “Display Spotify as your "
            "status” on.",
        )
    return Reply.info(
        "Nothing playing",
        f"I can't see {md(name or 'them')} listening to anything on Spotify right now.",
    )
