"""Looking up a song the catalog lacks: which sources (LOOKUP), in what order, within what
time, and what is remembered (found songs and misses, for a day).

`Lookup.find` never raises and never takes longer than its deadline: with every source
down, off or paused it says so at once, and the request gets the offline answer. It runs
on the event loop as network waits (aiohttp), never blocking it; identical questions asked
at the same moment share one lookup.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from importlib import metadata

import aiohttp

from bot.core.settings import Settings
from bot.features.catalog.sources import (
    MAX_NAME,
    MAX_TITLE,
    MusicBrainzSource,
    Source,
    SourceDown,
    SpotifySource,
    clean,
)
from recommender import TrackMetadata
from recommender.search import normalize, spotify_link_kind, spotify_track_id, track_link_in

log = logging.getLogger(__name__)

# The whole lookup, every source included: the offline answer still goes out within 2.5 s.
DEADLINE_SECONDS = 2.0
# A miss is not asked again for a day; a found song is kept as long.
BACKSTOP_SECONDS = 0.3
# How long a source answers alone before the next one is asked too (Spotify answers a
# search in a few hundred milliseconds; one still silent after a second is probably down).
HEAD_START_SECONDS = 1.0
MISS_SECONDS = 86_400.0
HIT_SECONDS = 86_400.0
MAX_CACHED = 10_000
_SEPARATOR = re.compile(r"\s+[-–—]\s+|\s+by\s+", re.IGNORECASE)
PROJECT_URL = "https://github.com/musicbot-dev/musicbot"


@dataclass(frozen=True)
class SongQuery:
    """What is sent to a source: a Spotify id, or a title and maybe an artist. Nothing
    about who asked."""

    spotify_id: str | None = None
    title: str = ""
    artist: str = ""

    @property
    def key(self) -> str:
        if self.spotify_id:
            return f"id:{self.spotify_id}"
        return f"song:{normalize(self.title)}|{normalize(self.artist)}"


def song_query(text: str) -> SongQuery | None:
    """The song a request names, as a lookup asks for it; None when it names none (an
    album link, nothing but punctuation)."""
    text = text.strip()
    if spotify_link_kind(text) is not None:
        return None
    link = track_link_in(text)
    track_id = spotify_track_id(link or text)
    if track_id is not None and (link is not None or len(text) == 22):
        return SongQuery(spotify_id=track_id)
    parts = _SEPARATOR.split(text, maxsplit=1)
    title = clean(parts[0], MAX_TITLE)
    artist = clean(parts[1], MAX_NAME) if len(parts) > 1 else ""
    if not normalize(title):
        return None
    return SongQuery(title=title, artist=artist)


class Outcome(Enum):
    FOUND = "found"
    UNKNOWN = "unknown"  # the sources answered: no such song (remembered for a day)
    UNAVAILABLE = "unavailable"  # off, down, paused or too slow: nothing learned


@dataclass(frozen=True)
class Looked:
    outcome: Outcome
    song: TrackMetadata | None = None
    source: str = ""


def user_agent() -> str:
    """What MusicBrainz asks every client to send: its name, version and a contact."""
    try:
        version = metadata.version("musicbot")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"musicbot-discord/{version} ( {PROJECT_URL} )"


@dataclass(frozen=True)
class Asked:
    """One source's answer: `answered` False when it could not answer (down, paused)."""

    source: str
    answered: bool
    song: TrackMetadata | None = None


class Lookup:
    """The sources LOOKUP chose, a cache of answers, and the deadline."""

    def __init__(
        self,
        sources: list[Source],
        *,
        deadline: float = DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.sources = sources
        self.deadline = deadline
        self.clock = clock
        self.http = http
        self._cache: dict[str, tuple[float, TrackMetadata | None]] = {}
        self._asking: dict[str, asyncio.Future[Looked]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.sources)

    def remember(self, song: TrackMetadata) -> None:
        """A song known without asking anyone (a member's Spotify presence)."""
        self._store(f"id:{song.source_id}", song, HIT_SECONDS)

    def _store(self, key: str, song: TrackMetadata | None, seconds: float) -> None:
        if len(self._cache) >= MAX_CACHED:
            now = self.clock()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            while len(self._cache) >= MAX_CACHED:
                self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (self.clock() + seconds, song)

    def cached(self, query: SongQuery) -> Looked | None:
        entry = self._cache.get(query.key)
        if entry is None or entry[0] <= self.clock():
            return None
        song = entry[1]
        if song is None:
            return Looked(Outcome.UNKNOWN)
        return Looked(Outcome.FOUND, song, song.source)

    async def find(self, query: SongQuery, known_artist: Callable[[str], bool]) -> Looked:
        """The song, or why there is none, within the deadline. `known_artist` says whether
        the model knows an artist: only for a new one are its genres worth a request."""
        hit = self.cached(query)
        if hit is not None:
            return hit
        if not self.sources:
            return Looked(Outcome.UNAVAILABLE)
        asking = self._asking.get(query.key)
        if asking is not None:
            return await asyncio.shield(asking)
        future: asyncio.Future[Looked] = asyncio.get_running_loop().create_future()
        self._asking[query.key] = future
        try:
            try:
                # Each source is given what is left of the deadline; this is the backstop.
                looked = await asyncio.wait_for(
                    self._ask(query, known_artist), self.deadline + BACKSTOP_SECONDS
                )
            except TimeoutError:
                looked = Looked(Outcome.UNAVAILABLE)
            future.set_result(looked)
            return looked
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: a lone caller's cancellation is no warning
            raise
        finally:
            self._asking.pop(query.key, None)

    async def _ask(self, query: SongQuery, known_artist: Callable[[str], bool]) -> Looked:
        """The sources in order, each given what is left of the deadline. The next one
        starts when the one asked answers nothing, or has not answered within its head
        start: a hanging Spotify used to eat the whole deadline, so MusicBrainz, which
        knew the song, was never asked. The first to find the song wins."""
        end = self.clock() + self.deadline
        waiting = [source for source in self.sources if source.guard.available]
        running: set[asyncio.Task[Asked]] = set()
        answered = False

        def start_next() -> None:
            source = waiting.pop(0)
            budget = end - self.clock()
            running.add(asyncio.ensure_future(self._ask_one(source, query, known_artist, budget)))

        try:
            while waiting or running:
                left = end - self.clock()
                if left <= 0.05:
                    break
                if not running:
                    start_next()
                done, running = await asyncio.wait(
                    running,
                    timeout=min(HEAD_START_SECONDS, left) if waiting else left,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done and waiting:
                    start_next()  # slow to answer: the next source is asked meanwhile
                for task in done:
                    asked = task.result()
                    answered = answered or asked.answered
                    if asked.song is not None:
                        self._store(query.key, asked.song, HIT_SECONDS)
                        return Looked(Outcome.FOUND, asked.song, asked.source)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if answered:
            self._store(query.key, None, MISS_SECONDS)
            return Looked(Outcome.UNKNOWN)
        return Looked(Outcome.UNAVAILABLE)

    async def _ask_one(
        self,
        source: Source,
        query: SongQuery,
        known_artist: Callable[[str], bool],
        budget: float,
    ) -> Asked:
        try:
            if query.spotify_id:
                song = await source.by_id(query.spotify_id, budget)
            else:
                genres = not query.artist or not known_artist(query.artist)
                song = await source.search(query.title, query.artist, genres, budget)
        except SourceDown:
            return Asked(source.name, answered=False)
        except Exception:  # a source's bug must not cost the member an answer
            log.exception("song lookup: %s failed", source.name)
            return Asked(source.name, answered=False)
        return Asked(source.name, answered=True, song=song)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


def make_lookup(settings: Settings) -> Lookup:
    """The sources LOOKUP names, in the order they are asked (call inside the event loop)."""
    choice = settings.lookup
    if choice == "off":
        return Lookup([])
    http = aiohttp.ClientSession(
        headers={"User-Agent": user_agent()}, raise_for_status=False, trust_env=True
    )
    secret = settings.spotify_client_secret
    secret_text = secret.get_secret_value().strip() if secret is not None else ""
    has_spotify = bool(settings.spotify_client_id.strip() and secret_text)
    sources: list[Source] = []
    if choice in ("auto", "spotify") and has_spotify:
        sources.append(
            SpotifySource(
                http,
                settings.spotify_client_id.strip(),
                secret_text,
                settings.spotify_api_url,
                settings.spotify_token_url,
            )
        )
    elif choice == "spotify":
        log.warning("LOOKUP=spotify but SPOTIFY_CLIENT_ID/SPOTIFY_CLIENT_SECRET are not set")
    if choice in ("auto", "musicbrainz"):
        sources.append(MusicBrainzSource(http, settings.musicbrainz_url, user_agent()))
    return Lookup(sources, http=http)
