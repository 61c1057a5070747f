"""How an answer with recommendations looks, for `recommend`, the follow-ups and
`musicbot recommend`: what was understood (a song, an artist, a song the catalog lacks),
the numbered picks, the footer, and the actions under it."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.replies import Action, Kind, Line, Reply, not_a_song_reply
from bot.core.text import code, md
from bot.features.feedback.targets import Votes
from bot.features.followups.replies import FOLLOW_UP_HINT, FollowUp
from bot.features.recommend.queries import StoredAnswer
from recommender import (
    ArtistResult,
    Reading,
    Recommender,
    Resolution,
    TrackResult,
    Understanding,
)
from recommender.followups import Answer


def hint_command(prefix: str, track: TrackResult) -> str:
    """A command that picks exactly this track (`title - artist` resolves exactly)."""
    return code(f"{prefix}recommend {track.name} - {track.artist}")


def pick_lines(picks: Sequence[TrackResult]) -> list[Line]:
    """One line per pick: the song, its artist and its match (as `!why` repeats it)."""
    return [
        Line(text=md(p.name), url=p.url, note=f"— {md(p.artist)} · {p.match:.0%}") for p in picks
    ]


def picks_footer(model_version: str, follow_up: bool) -> str:
    """The match scale, the follow-up hint when the answer can be followed up, the model."""
    hint = f" · {FOLLOW_UP_HINT}" if follow_up else ""
    # One bounded number, in the list's order: a share of the most this model can score
    # (similarity plus its popularity prior), never above the pick before it.
    return f"% = match, best first{hint} · model {model_version}"


def answer_actions(
    stored: StoredAnswer | None, seed_track_id: str | None, picks: Sequence[TrackResult]
) -> tuple[Action, ...]:
    """The follow-up buttons and the 👍/👎 of a stored answer with picks. An answer to
    words alone (`seed_track_id` None) has no song a vote could pair its picks with, so
    it gets the follow-ups only."""
    if stored is None or not picks:
        return ()
    follow = (FollowUp(stored.turn_id),) if stored.turn_id is not None else ()
    if seed_track_id is None:
        return follow
    votes = Votes.on_query(stored.query_id, seed_track_id, [p.track_id for p in picks])
    return (*follow, votes)


def artist_command(prefix: str, artist: ArtistResult) -> str:
    """A command that asks for exactly this artist."""
    return code(f"{prefix}recommend artist: {artist.name}")


def _understood(understood: Understanding, prefix: str) -> str:
    """ "Understood: …" and the other readings of ambiguous text, for a description."""
    song, artist = understood.song, understood.artist
    if understood.kind is Reading.MISSING_SONG and artist is not None:
        text = f"I don't have *{md(understood.title)}* yet — songs like **{md(artist.name)}**"
    elif understood.kind is Reading.ARTIST and artist is not None:
        count = f"{artist.tracks} song{'s' * (artist.tracks != 1)} here"
        text = f"Understood: the artist **{md(artist.name)}** ({count})"
    else:
        assert song is not None
        year = f" ({song.release_year})" if song.release_year else ""
        text = f"Understood: **{md(song.name)}** — {md(song.artist)}{year}"
    others = [f"the artist {md(a.name)}" for a in understood.artists[:2]]
    others += [f"{md(s.name)} — {md(s.artist)}" for s in understood.songs[: 3 - len(others)]]
    if others:
        total = len(understood.artists[:2]) + len(understood.songs)
        more = f" and {total - len(others)} more" if total > len(others) else ""
        first = (
            artist_command(prefix, understood.artists[0])
            if understood.artists
            else hint_command(prefix, understood.songs[0])
        )
        text += f"\nAlso: {'; '.join(others)}{more}; try {first}"
    return text


def recommendations_reply(
    model: Recommender,
    understood: Understanding,
    picks: list[TrackResult],
    prefix: str,
    *,
    applied: str | None = None,
    stored: StoredAnswer | None = None,
    also_words: str | None = None,
) -> Reply:
    """The answer to `recommend`: songs like a song or an artist. `applied` says which
    inline refinements were applied (None: the request had none); `stored` is where the
    answer was kept (None in `musicbot recommend`, which keeps nothing)."""
    seed = understood.seed_track
    assert seed is not None
    description = _understood(understood, prefix)
    if also_words:
        description += (
            f"\nFor music described that way, try {code(prefix + 'recommend ' + also_words)}"
        )
    if applied:
        description += "\n" + applied
    elif applied is None and not picks:
        description += "\n\nI have no recommendations for that song yet."
    artist = understood.artist if understood.kind is not Reading.SONG else None
    return Reply(
        title=f"Songs like {artist.name}" if artist else f"Songs like {seed.name} — {seed.artist}",
        url=None if artist else seed.url,
        description=description,
        lines=pick_lines(picks),
        footer=picks_footer(model.version, stored is not None and stored.turn_id is not None),
        actions=answer_actions(stored, seed.track_id, picks),
    )


def description_reply(
    model: Recommender,
    text: str,
    answer: Answer,
    song: Resolution,
    prefix: str,
    *,
    stored: StoredAnswer | None = None,
) -> Reply:
    """The answer to words alone ("neo soul", "something chill from the 90s"): what was
    understood, the picks, and the song of that title when there is one."""
    description = f"Understood: {md(answer.understood)}"
    if song.best is not None:
        best = song.best
        description += (
            f"\nAlso the song {md(best.name)} — {md(best.artist)}; try {hint_command(prefix, best)}"
        )
    if answer.note:
        description += "\n" + md(answer.note)
    shown = text if len(text) <= 60 else text[:57] + "..."
    return Reply(
        title=f"Songs for “{shown}”",
        description=description,
        lines=pick_lines(answer.picks),
        footer=picks_footer(model.version, stored is not None and stored.turn_id is not None),
        actions=answer_actions(stored, None, answer.picks),
    )


def not_found_reply(text: str, understood: Understanding, prefix: str) -> Reply:
    """The answer when `text` named nothing here: why, and what is close (only ever as
    suggestions: a song the catalog lacks is not answered as another of that title)."""
    if understood.not_a_song is not None:
        return not_a_song_reply(understood.not_a_song)
    suggestions = (understood.suggestions or understood.resolution.suggestions)[:3]
    shown = text if len(text) <= 60 else text[:57] + "..."
    lines = [
        Line(text=f"{md(s.name)} — {md(s.artist)}", note=f"· try {hint_command(prefix, s)}")
        for s in suggestions
    ]
    lines += [
        Line(text=f"the artist {md(a.name)}", note=f"· try {artist_command(prefix, a)}")
        for a in understood.artists[: 3 - len(lines)]
    ]
    if understood.title and lines:
        description = f"I don't have *{md(understood.title)}* by that artist. Close to it here:"
    elif lines:
        description = "Did you mean:"
    else:
        description = (
            f"Try the title and the artist, e.g. {code(prefix + 'recommend bad guy - billie eilish')}, "
            f"an artist, e.g. {code(prefix + 'recommend dua lipa')}, or paste a Spotify track link."
        )
    return Reply(
        title=f"I couldn't find “{md(shown)}”",
        description=description,
        lines=lines,
        kind=Kind.ERROR,
    )
