"""Group listening sessions: `!session start|add|next|show|end` as front-end-free handlers.

One open session per channel, kept in the database (tables.py), so a restart
loses nothing. A session nobody touched for SESSION_IDLE_HOURS ends by itself: every
session command first closes the idle ones of its channel, the Discord cog sweeps all
channels periodically, and retraining counts an idle session as ended even if no sweep
ran yet. Ended sessions with at least `MIN_PLAYLIST_SONGS` songs become community
playlists for the next retrain (`session_playlists` below).
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
from sqlalchemy import Row, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.dispatch import RequestContext, Services, command
from bot.core.replies import Field, Kind, Line, Reply, not_a_song_reply
from bot.core.settings import Settings
from bot.core.tables import utcnow
from bot.core.text import code, md
from bot.core.training_data import playlist_rows, training_source
from bot.features.catalog.handlers import STAND_INS, addition_labels, look_up, stand_ins
from bot.features.feedback.targets import Votes
from bot.features.sessions.queries import (
    MIN_PLAYLIST_SONGS,
    community_playlists,
    end_idle_sessions,
    open_session,
    session_entries,
    session_songs,
    touch,
)
from bot.features.sessions.tables import END_COMMAND, ListeningSession, SessionEntry
from recommender import Reading, Recommender, TrackResult
from recommender.rerank import group_picks

DEFAULT_NEXT = 5
MAX_NEXT = 10
MAX_NAME = 100
SESSION_PLAYLIST_PREFIX = "community:session:"
# Unicode categories that show nothing: format characters (zero-width space, joiners),
# controls and spaces.
INVISIBLE = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})
USAGE = "start [name] | add <song> | next [n] | show | end"


# -- handler -----------------------------------------------------------------------------
@command(
    "session",
    usage=USAGE,
    summary="listen together: start a session, everyone adds songs, I pick what plays next",
    examples=("start friday mix", "add bad guy", "next", "show", "end"),
    requires_text=True,
    cooldown=True,
)
async def session_command(services: Services, ctx: RequestContext, text: str) -> Reply:
    verb, _, rest = text.strip().partition(" ")
    verb, rest = verb.lower(), rest.strip()
    action = ACTIONS.get(verb)
    if action is None:
        prefix = services.settings.command_prefix
        return Reply.error(
            "What should the session do?",
            f"Use {code(f'{prefix}session {USAGE}')}, e.g. {code(prefix + 'session start')}.",
        )
    # A ranking takes its place in the heavy lane before reading anything: when too many
    # wait, the answer is "busy" at once, and the rest read their session in turn.
    async with services.computing.heavy_slot() if action is next_ else contextlib.nullcontext():
        ended = await end_idle_sessions(
            services.db, services.settings.session_idle_hours, ctx.channel_id
        )
        reply = await action(services, ctx, rest)
    if ended and verb != "start":
        hours = f"{services.settings.session_idle_hours:g}"
        notice = f"(“{md(ended[0].name)}” ended by itself after {hours} h without activity.)"
        reply = replace(reply, notice=notice)
    return reply


async def start(services: Services, ctx: RequestContext, rest: str) -> Reply:
    prefix = services.settings.command_prefix
    # The default name carries no member's name: names go into exports and training data.
    name = " ".join(rest.split())[:MAX_NAME]
    if not any(unicodedata.category(c) not in INVISIBLE for c in name):
        # Blank to the eye (zero-width spaces and the like): a name no one could read.
        name = f"Session of {utcnow():%b} {utcnow().day}"
    current = await open_session(services.db, ctx.channel_id)
    if current is not None:
        return _already_open(current, prefix)
    now = utcnow()
    row = ListeningSession(
        guild_id=ctx.guild_id,
        channel_id=ctx.channel_id,
        open_channel_id=ctx.channel_id,
        name=name,
        started_by=ctx.user_id,
        started_at=now,
        last_activity_at=now,
    )
    try:
        async with services.db.writing() as session:
            session.add(row)
    except IntegrityError:  # someone else started one in the same instant
        current = await open_session(services.db, ctx.channel_id)
        if current is not None:
            return _already_open(current, prefix)
        raise
    return Reply(
        title=f"Session started: {md(name)}",
        description=(
            f"Everyone can add songs with {code(prefix + 'session add <song>')}; "
            f"{code(prefix + 'session next')} picks what plays next for the whole group, "
            f"{code(prefix + 'session end')} closes it."
        ),
    )


def _already_open(current: ListeningSession, prefix: str) -> Reply:
    return Reply.info(
        "A session is already running here",
        f"“{md(current.name)}” is open. Add songs with {code(prefix + 'session add <song>')} "
        f"or close it with {code(prefix + 'session end')} first.",
    )


async def _require_open(services: Services, ctx: RequestContext) -> ListeningSession | Reply:
    current = await open_session(services.db, ctx.channel_id)
    if current is None:
        prefix = services.settings.command_prefix
        return Reply.info(
            "No session is running here",
            f"Start one with {code(prefix + 'session start [name]')}.",
        )
    return current


async def add(services: Services, ctx: RequestContext, rest: str) -> Reply:
    prefix = services.settings.command_prefix
    if not rest:
        return Reply.info(
            "Which song?", f"e.g. {code(prefix + 'session add bad guy - billie eilish')}"
        )
    current = await _require_open(services, ctx)
    if isinstance(current, Reply):
        return current
    # Full first: a song the catalog lacks would otherwise be looked up (and kept for the
    # retrain) only to be turned away.
    entries = await session_entries(services.db, current.id)
    limit = services.settings.session_max_songs
    if len(entries) >= limit:
        return Reply.info(
            "This session is full",
            f"{md(current.name)} has {len(entries)} songs, the most a session can hold. "
            f"End it with {code(prefix + 'session end')} and start a new one.",
        )
    model = services.models.current
    understood = await services.compute(model.understand, rest)
    if understood.not_a_song is not None:
        return not_a_song_reply(understood.not_a_song)
    artist = understood.artist
    best = understood.seed_track
    new_here = ""
    if understood.kind in (Reading.MISSING_SONG, Reading.NOT_FOUND):
        # A song the catalog lacks: looked up, and added as the song it is; the session
        # gives it its first playlist at the next retrain.
        found = await look_up(services, rest, model, STAND_INS)
        if found is not None:
            best, artist = found.placed.track, None
            new_here = (
                " New to this server's catalog: songs like it stand in for it until the "
                "next retrain."
            )
        elif understood.kind is Reading.MISSING_SONG and artist is not None:
            # Adding another of their songs instead would pass it off as the one asked for.
            return Reply.error(
                f"I don't have *{md(understood.title)}* yet",
                f"Add another song by {md(artist.name)}, or their best known with "
                f"{code(f'{prefix}session add artist: {artist.name}')}.",
            )
    if best is None:
        shown = rest if len(rest) <= 60 else rest[:57] + "..."
        lines = [
            Line(
                text=f"{md(s.name)} — {md(s.artist)}",
                note=f"· try {code(f'{prefix}session add {s.name} - {s.artist}')}",
            )
            for s in (understood.suggestions or understood.resolution.suggestions)[:3]
        ]
        return Reply.error(
            f"I couldn't find “{md(shown)}”",
            "Did you mean:" if lines else "Try the title and the artist, or a Spotify link.",
            lines=lines,
        )
    # A session is a list of songs: an artist stands there as their best-known song.
    as_artist = f"For the artist {md(artist.name)}, their best known: " if artist else ""
    duplicate = next((e for e in entries if _same_song(model, e.track_id, best)), None)
    if duplicate is not None:
        return Reply.info(
            "Already in the session",
            f"**{md(best.name)}** — {md(best.artist)} was added by "
            f"{md(duplicate.user_name)}; pick another song.",
        )
    try:
        async with services.db.writing() as session:
            session.add(
                SessionEntry(
                    session_id=current.id,
                    user_id=ctx.user_id,
                    user_name=ctx.user_name[:100],
                    track_id=best.track_id,
                )
            )
            await session.execute(
                update(ListeningSession)
                .where(ListeningSession.id == current.id)
                .values(last_activity_at=utcnow())
            )
    except IntegrityError:  # the same song added twice at once
        return Reply.info("Already in the session", f"**{md(best.name)}** is already in it.")
    count = len(entries) + 1
    return Reply(
        title=f"Added to {md(current.name)}",
        description=(
            f"{as_artist}**{md(best.name)}** — {md(best.artist)} (song {count}). "
            f"{code(prefix + 'session next')} suggests what to play next.{new_here}"
        ),
    )


def _same_song(model: Recommender, track_id: str, candidate: TrackResult) -> bool:
    """The same track, or another version of the same song (same title and artist)."""
    if track_id == candidate.track_id:
        return True
    if track_id not in model:
        return False
    other = model.track(track_id)
    return (other.name.casefold(), other.artist.casefold()) == (
        candidate.name.casefold(),
        candidate.artist.casefold(),
    )


async def next_(services: Services, ctx: RequestContext, rest: str) -> Reply:
    prefix = services.settings.command_prefix
    count = DEFAULT_NEXT
    if rest:
        if not rest.isdecimal() or not 1 <= int(rest) <= MAX_NEXT:
            return Reply.error(
                "How many?",
                f"A number from 1 to {MAX_NEXT}, e.g. {code(prefix + 'session next 3')}.",
            )
        count = int(rest)
    current = await _require_open(services, ctx)
    if isinstance(current, Reply):
        return current
    entries = await session_songs(services.db, current.id)
    model = services.models.current
    standing = await stand_ins(services, model, [e.track_id for e in entries])
    known = [e for e in entries if e.track_id in model or e.track_id in standing.songs]
    if not known:
        return Reply.info(
            f"{md(current.name)} has no songs yet",
            f"Add some with {code(prefix + 'session add <song>')} first.",
        )
    # A looked-up song the model has no row for yet counts by the songs standing for it.
    adder: dict[str, Row[str, int, str]] = {}
    for entry in known:
        for seed_id in standing.songs.get(entry.track_id, [entry.track_id]):
            adder.setdefault(seed_id, entry)
    # A big session's ranking can take a second: the heavy lane, never the event loop.
    picks = await services.compute(
        group_picks,
        model,
        list(adder),
        k=count,
        exclude=[e.track_id for e in entries],
        heavy=True,
    )
    await touch(services.db, current.id)
    lines = []
    for pick in picks:
        seed = adder[pick.closest_seed]
        seed_name = standing.titles.get(seed.track_id) or model.track(seed.track_id).name
        lines.append(
            Line(
                text=md(pick.track.name),
                url=pick.track.url,
                note=f"— {md(pick.track.artist)} · closest to {md(seed_name)} "
                f"(added by {md(seed.user_name)})",
            )
        )
    listeners = len({e.user_id for e in entries})
    return Reply(
        title=f"Up next for {md(current.name)}",
        description=(
            f"For all {len(known)} songs from {listeners} "
            f"{'listener' if listeners == 1 else 'listeners'}, artists spread out."
            + ("" if picks else "\n\nI have nothing new to suggest for these songs.")
        ),
        lines=lines,
        # The 👍/👎 are buttons under the answer on Discord; the console has none.
        footer=("" if ctx.is_console else "👍/👎 teach the next model · ")
        + f"model {model.version}",
        actions=(
            Votes.on_session(
                current.id, [(p.track.track_id, adder[p.closest_seed].track_id) for p in picks]
            ),
        ),
    )


async def show(services: Services, ctx: RequestContext, rest: str) -> Reply:
    prefix = services.settings.command_prefix
    current = await _require_open(services, ctx)
    if isinstance(current, Reply):
        return current
    entries = await session_entries(services.db, current.id)
    model = services.models.current
    if not entries:
        return Reply.info(
            f"{md(current.name)}: no songs yet",
            f"Add one with {code(prefix + 'session add <song>')}.",
        )
    added = await addition_labels(services, model, (e.track_id for e in entries))
    lines = [
        Line(
            text=md(added.get(e.track_id) or _label(model, e.track_id)),
            url=model.track(e.track_id).url if e.track_id in model else None,
            note=f"· added by {md(e.user_name)}",
        )
        for e in entries
    ]
    listeners = len({e.user_id for e in entries})
    return Reply(
        title=f"{md(current.name)}: {len(entries)} {'song' if len(entries) == 1 else 'songs'}",
        description=f"{listeners} {'listener' if listeners == 1 else 'listeners'} so far.",
        lines=lines,
        kind=Kind.INFO,
        private=False,
    )


async def end(services: Services, ctx: RequestContext, rest: str) -> Reply:
    current = await _require_open(services, ctx)
    if isinstance(current, Reply):
        return current
    # Closing it ends everyone's session: the one who started it, or an admin of the
    # server (a forgotten starter is 0: then only admins, or the idle timeout).
    if not (ctx.user_id == current.started_by != 0 or ctx.manages_server or ctx.is_admin):
        return Reply.error(
            "Not your session",
            f"Only whoever started {md(current.name)} or a server admin can end it; "
            f"it ends by itself after {services.settings.session_idle_hours:g} h without "
            "activity.",
        )
    async with services.db.writing() as session:
        row = await session.get(ListeningSession, current.id)
        if row is None or row.ended_at is not None:
            return Reply.info("That session has already ended")
        row.ended_at = utcnow()
        row.end_reason = END_COMMAND
        row.open_channel_id = None
    entries = await session_entries(services.db, current.id)
    return summary_reply(services.models.current, current, entries)


def summary_reply(
    model: Recommender,
    current: ListeningSession,
    entries: Sequence[SessionEntry],
    idle_hours: float | None = None,
) -> Reply:
    """The closing summary: songs, listeners, top artists, and what the data is used for.

    `idle_hours` when it ended by itself after that long without activity."""
    listeners = Counter(e.user_name for e in entries)
    artists = Counter(model.track(e.track_id).artist for e in entries if e.track_id in model)
    minutes = max(
        int(((current.ended_at or utcnow()) - current.started_at).total_seconds() // 60), 0
    )
    fields = [
        Field(name="Songs", value=str(len(entries)), inline=True),
        Field(name="Listeners", value=str(len(listeners)), inline=True),
        Field(name="Length", value=f"{minutes} min", inline=True),
    ]
    if listeners:
        fields.append(
            Field(
                name="Who added",
                value=", ".join(f"{md(name)} ({n})" for name, n in listeners.most_common(10)),
            )
        )
    if artists:
        fields.append(
            Field(
                name="Top artists",
                value=", ".join(f"{md(a)} ({n})" for a, n in artists.most_common(3)),
            )
        )
    if len(entries) >= MIN_PLAYLIST_SONGS:
        note = "It becomes a community playlist the next model learns from."
    else:
        note = f"Sessions with {MIN_PLAYLIST_SONGS}+ songs become playlists the model learns from."
    idle = f"Nobody added anything for {idle_hours:g} h. " if idle_hours is not None else ""
    return Reply(
        title=f"Session ended: {md(current.name)}",
        description=f"{idle}Thanks for listening together! {note}",
        fields=fields,
        kind=Kind.INFO,
        private=False,
    )


def _label(model: Recommender, track_id: str) -> str:
    return model.track(track_id).label if track_id in model else track_id


ACTIONS = {"start": start, "add": add, "next": next_, "show": show, "end": end, "stop": end}


# -- training data ----------------------------------------------------------------------
@training_source("sessions")
async def session_playlists(
    settings: Settings, session: AsyncSession, base: pd.DataFrame
) -> pd.DataFrame:
    """Every ended session with 3+ songs as one playlist `community:session:<id>`."""
    parts = [
        playlist_rows(
            base,
            playlist.track_ids,
            f"{SESSION_PLAYLIST_PREFIX}{playlist.session_id}",
            playlist.name,
            subgenre="session",
        )
        for playlist in await community_playlists(session, settings.session_idle_hours)
    ]
    parts = [p for p in parts if len(p) >= 2]  # one known song links nothing
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
