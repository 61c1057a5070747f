""" "What I'm listening to" as a seed (LISTENING=on): the song a member plays on Spotify,
as Discord's presence shows it, turned into the text `recommend` and `session add` take.

No Discord objects here: the front end reads the presence into a `NowPlaying`. Nothing of
it is stored beyond what a typed song would store (the query's text, `spotify:track:<id>`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.replies import Reply
from bot.core.text import md
from recommender import Recommender
from recommender.search import normalize, track_uri


@dataclass(frozen=True)
class NowPlaying:
    """A Spotify track from a member's presence: its id, title and artists."""

    track_id: str | None
    title: str
    artists: Sequence[str]


def seed_text(model: Recommender, playing: NowPlaying) -> str | Reply:
    """The text that picks this track in `model`: its Spotify id if the catalog has it,
    else the catalog's song with the same title and artist, else an honest "I don't know
    that one yet" (never a merely similar-sounding song)."""
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
    artist = ", ".join(playing.artists) or "?"
    return Reply.info(
        "I don't know that one yet",
        f"**{md(playing.title or '?')}** — {md(artist)} isn't in my catalog, so I can't "
        "find songs like it. Name another song with `/recommend song`.",
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
