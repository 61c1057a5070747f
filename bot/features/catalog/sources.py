"""Where a song the catalog lacks is looked up: Spotify's Web API and MusicBrainz, behind
one small interface (`Source`), over aiohttp.

A source is asked the song's text (title, artist) or its Spotify id, nothing else: not
who asked, not where. What it answers is not trusted: lengths are bounded, control
characters and Discord mentions are taken out (markdown is escaped where it is shown),
ids, years and popularity are checked, and garbage is a failure, not a song.

Each source answers within `timeout` seconds, honours the service's rate limits
(Spotify's 429 with Retry-After, MusicBrainz's 503 and its one request per second) and,
after `FAILURES_TO_PAUSE` failures in a row, is skipped for `FAILURE_PAUSE` seconds
(`Guard`), so a service that is down costs the members nothing but its absence.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp

from recommender import TrackMetadata
from recommender.search import base_title, normalize

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0
FAILURES_TO_PAUSE = 3
FAILURE_PAUSE = 60.0
MAX_RETRY_AFTER = 600.0  # a Retry-After longer than this is read as this
MAX_BODY_BYTES = 512 * 1024  # a search answer is a few kB; more is not a search answer
MAX_TITLE = 200
MAX_NAME = 100
MAX_TAG = 40
MAX_TAGS = 8
MAX_ARTISTS = 4

SPOTIFY_ID = re.compile(r"[A-Za-z0-9]{22}")
MBID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MENTION = re.compile(r"<(?=[@#:])")
_EVERYONE = re.compile(r"@(?=everyone|here)", re.IGNORECASE)


class SourceDown(Exception):
    """A source could not answer now (timeout, error, rate limit, garbage): not a miss."""


def clean(value: object, limit: int) -> str:
    """Text from a service made safe to keep and show: a string, no control characters,
    single spaces, no pinging mention, at most `limit` characters ("" if not text)."""
    if not isinstance(value, str):
        return ""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    text = " ".join(text.split())
    text = _EVERYONE.sub("@\u200b", _MENTION.sub("‹", text))
    return text[:limit].strip()


def year_of(date: object) -> int:
    """The year of 'YYYY', 'YYYY-MM' or 'YYYY-MM-DD'; 0 when absent or implausible."""
    if not isinstance(date, str) or not re.match(r"\d{4}", date):
        return 0
    year = int(date[:4])
    return year if 1900 <= year <= datetime.now(UTC).year + 1 else 0


def popularity_of(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(min(max(value, 0), 100))


def same_title(found: str, asked: str) -> bool:
    """Whether a service's title is the song asked for (versions count: "X - Remastered")."""
    a, b = base_title(found), base_title(asked)
    return bool(a) and (a == b or normalize(found) == normalize(asked))


def same_artist(found: tuple[str, ...], asked: str) -> bool:
    wanted = normalize(asked)
    return not wanted or any(normalize(a) == wanted for a in found)


class Guard:
    """When a source may be asked: not while a rate limit or a run of failures pauses it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.paused_until = 0.0
        self.failures = 0

    @property
    def available(self) -> bool:
        return self.clock() >= self.paused_until

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + min(seconds, MAX_RETRY_AFTER))

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= FAILURES_TO_PAUSE:
            self.pause(FAILURE_PAUSE)
            self.failures = 0

    def succeeded(self) -> None:
        self.failures = 0


def retry_after(response: aiohttp.ClientResponse, default: float) -> float:
    try:
        return max(float(response.headers.get("Retry-After", default)), 0.0)
    except ValueError:
        return default


class Source(Protocol):
    """One place songs are looked up. `None`: the source answered and has no such song;
    `SourceDown`: it could not answer now."""

    name: str
    guard: Guard

    async def by_id(self, spotify_id: str, budget: float) -> TrackMetadata | None: ...

    async def search(
        self, title: str, artist: str, genres: bool, budget: float
    ) -> TrackMetadata | None: ...


class HttpSource:
    """What both services share: one GET with a timeout, JSON or a failure."""

    name = "http"

    def __init__(self, http: aiohttp.ClientSession, timeout: float = TIMEOUT_SECONDS) -> None:
        self.http = http
        self.seconds = timeout
        self.guard = Guard()

    def _deadline(self, budget: float) -> float:
        """When this lookup must be done: the source's timeout or the caller's budget."""
        return time.monotonic() + min(self.seconds, budget)

    def _timeout(self, deadline: float) -> aiohttp.ClientTimeout:
        """What is left of `deadline` for one request (SourceDown when nothing is)."""
        left = deadline - time.monotonic()
        if left <= 0.01:
            raise SourceDown(f"{self.name}: out of time")
        return aiohttp.ClientTimeout(total=left)

    async def _json(self, response: aiohttp.ClientResponse) -> Any:
        body = await response.content.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise self._down("answer too long")
        try:
            return json.loads(body)
        except ValueError as error:
            raise self._down("answered something that is not JSON") from error

    def _down(self, why: str) -> SourceDown:
        self.guard.failed()
        log.warning("song lookup: %s %s", self.name, why)
        return SourceDown(f"{self.name}: {why}")


class SpotifySource(HttpSource):
    """Spotify's Web API with an app's client credentials (no member's account)."""

    name = "spotify"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        client_id: str,
        client_secret: str,
        api_url: str,
        token_url: str,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(http, timeout)
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        pair = f"{client_id}:{client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(pair).decode()
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def _access_token(self, deadline: float) -> str:
        async with self._token_lock:
            if self._token is not None and time.monotonic() < self._token_expires:
                return self._token
            try:
                async with self.http.post(
                    self.token_url,
                    data={"grant_type": "client_credentials"},
                    headers={"Authorization": self._basic},
                    timeout=self._timeout(deadline),
                ) as response:
                    if response.status == 429:
                        self.guard.pause(retry_after(response, 5.0))
                        raise self._down("token: rate limited")
                    if response.status != 200:
                        raise self._down(f"token: HTTP {response.status}")
                    payload = await self._json(response)
            except (aiohttp.ClientError, TimeoutError) as error:
                raise self._down(f"token: {type(error).__name__}") from error
            token = payload.get("access_token") if isinstance(payload, dict) else None
            expires = payload.get("expires_in", 3600) if isinstance(payload, dict) else 0
            if not isinstance(token, str) or not token or len(token) > 2048:
                raise self._down("token: no access_token")
            if not isinstance(expires, int | float) or isinstance(expires, bool):
                expires = 3600
            self._token = token
            self._token_expires = time.monotonic() + max(float(expires) - 60, 30)
            return token

    async def _get(
        self, path: str, deadline: float, params: dict[str, str] | None = None
    ) -> Any | None:
        """The JSON at `path`; None for 404/400 (no such track); SourceDown otherwise."""
        if not self.guard.available:
            raise SourceDown("spotify: paused")
        for attempt in range(2):
            token = await self._access_token(deadline)
            try:
                async with self.http.get(
                    self.api_url + path,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=self._timeout(deadline),
                ) as response:
                    if response.status == 401 and attempt == 0:
                        self._token = None  # expired early: one new token, one retry
                        continue
                    if response.status == 429:
                        self.guard.pause(retry_after(response, 5.0))
                        raise self._down("rate limited (429)")
                    if response.status in (400, 404):
                        self.guard.succeeded()
                        return None
                    if response.status != 200:
                        raise self._down(f"HTTP {response.status}")
                    payload = await self._json(response)
            except (aiohttp.ClientError, TimeoutError) as error:
                raise self._down(type(error).__name__) from error
            self.guard.succeeded()
            return payload
        raise self._down("token refused")

    async def by_id(self, spotify_id: str, budget: float = TIMEOUT_SECONDS) -> TrackMetadata | None:
        if not SPOTIFY_ID.fullmatch(spotify_id):
            return None
        track = await self._get(f"/tracks/{spotify_id}", self._deadline(budget))
        song = self._song(track)
        return song if song is None or song.source_id == spotify_id else None

    async def search(
        self, title: str, artist: str, genres: bool, budget: float = TIMEOUT_SECONDS
    ) -> TrackMetadata | None:
        deadline = self._deadline(budget)
        query = f'track:"{title}"' + (f' artist:"{artist}"' if artist else "")
        found = await self._get("/search", deadline, {"q": query, "type": "track", "limit": "5"})
        items = found.get("tracks", {}).get("items") if isinstance(found, dict) else None
        if not isinstance(items, list):
            if found is None:
                return None
            raise self._down("search: no tracks in the answer")
        for item in items:
            song = self._song(item)
            if song and same_title(song.title, title) and same_artist(song.artists, artist):
                return await self._with_genres(song, item, deadline) if genres else song
        return None

    async def _with_genres(
        self, song: TrackMetadata, item: dict[str, Any], deadline: float
    ) -> TrackMetadata:
        """The song with its first artist's genres (Spotify gives genres per artist)."""
        artist_id = (item.get("artists") or [{}])[0].get("id")
        if not isinstance(artist_id, str) or not SPOTIFY_ID.fullmatch(artist_id):
            return song
        try:
            artist = await self._get(f"/artists/{artist_id}", deadline)
        except SourceDown:
            return song  # placed without genres rather than not at all
        names = artist.get("genres") if isinstance(artist, dict) else None
        names = names if isinstance(names, list) else []
        tags = tuple(t for t in (clean(g, MAX_TAG) for g in names[:MAX_TAGS]) if t)
        return TrackMetadata(**{**song.__dict__, "tags": tags})

    def _song(self, item: object) -> TrackMetadata | None:
        if not isinstance(item, dict):
            return None
        track_id = item.get("id")
        title = clean(item.get("name"), MAX_TITLE)
        artists = tuple(
            a
            for a in (
                clean(x.get("name"), MAX_NAME)
                for x in (item.get("artists") or [])[:MAX_ARTISTS]
                if isinstance(x, dict)
            )
            if a
        )
        if not isinstance(track_id, str) or not SPOTIFY_ID.fullmatch(track_id) or not title:
            return None
        if not artists:
            return None
        album = item.get("album")
        if not isinstance(album, dict):
            album = {}
        album_id = album.get("id")
        if not isinstance(album_id, str):
            album_id = ""
        return TrackMetadata(
            source="spotify",
            source_id=track_id,
            title=title,
            artists=artists,
            album=clean(album.get("name"), MAX_TITLE),
            album_id=album_id if SPOTIFY_ID.fullmatch(album_id) else "",
            year=year_of(album.get("release_date")),
            popularity=popularity_of(item.get("popularity")),
        )


class MusicBrainzSource(HttpSource):
    """MusicBrainz's search (no key), at most one request a second as it asks, with a
    User-Agent naming the bot, its version and where to reach its makers."""

    name = "musicbrainz"
    MIN_INTERVAL = 1.0

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        user_agent: str,
        timeout: float = TIMEOUT_SECONDS,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        super().__init__(http, timeout)
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.min_interval = min_interval
        self._next_slot = 0.0

    async def by_id(self, spotify_id: str, budget: float = TIMEOUT_SECONDS) -> TrackMetadata | None:
        raise SourceDown("musicbrainz: does not know Spotify ids")

    async def _slot(self, budget: float) -> None:
        """Wait for this request's turn (one a second); SourceDown if it is too far off."""
        now = time.monotonic()
        slot = max(now, self._next_slot)
        if slot - now > budget:
            raise SourceDown("musicbrainz: too many lookups waiting")
        self._next_slot = slot + self.min_interval
        await asyncio.sleep(slot - now)

    async def search(
        self, title: str, artist: str, genres: bool, budget: float = TIMEOUT_SECONDS
    ) -> TrackMetadata | None:
        if not self.guard.available:
            raise SourceDown("musicbrainz: paused")
        deadline = self._deadline(budget)
        await self._slot(deadline - time.monotonic() - 0.1)
        query = f'recording:"{_lucene(title)}"' + (
            f' AND artist:"{_lucene(artist)}"' if artist else ""
        )
        try:
            async with self.http.get(
                f"{self.base_url}/recording",
                params={"query": query, "fmt": "json", "limit": "5"},
                headers={"User-Agent": self.user_agent, "Accept": "application/json"},
                timeout=self._timeout(deadline),
            ) as response:
                if response.status == 503:  # MusicBrainz's "slow down"
                    self.guard.pause(retry_after(response, 2.0))
                    raise self._down("rate limited (503)")
                if response.status != 200:
                    raise self._down(f"HTTP {response.status}")
                payload = await self._json(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise self._down(type(error).__name__) from error
        recordings = payload.get("recordings") if isinstance(payload, dict) else None
        if not isinstance(recordings, list):
            raise self._down("search: no recordings in the answer")
        self.guard.succeeded()
        for item in recordings:
            song = self._song(item)
            if song and same_title(song.title, title) and same_artist(song.artists, artist):
                return song
        return None

    def _song(self, item: object) -> TrackMetadata | None:
        if not isinstance(item, dict):
            return None
        mbid = item.get("id")
        if not isinstance(mbid, str) or not MBID.fullmatch(mbid):
            return None
        score = item.get("score", 100)
        if isinstance(score, int | float) and score < 80:
            return None
        credits = item.get("artist-credit") or []
        artists = tuple(
            a
            for a in (
                clean(c.get("name"), MAX_NAME) for c in credits[:MAX_ARTISTS] if isinstance(c, dict)
            )
            if a
        )
        title = clean(item.get("title"), MAX_TITLE)
        if not title or not artists:
            return None
        releases = [r for r in (item.get("releases") or []) if isinstance(r, dict)]
        release = releases[0] if releases else {}
        release_id = release.get("id")
        if not isinstance(release_id, str):
            release_id = ""
        tags = sorted(
            (t for t in (item.get("tags") or []) if isinstance(t, dict)), key=lambda t: -_votes(t)
        )
        return TrackMetadata(
            source="musicbrainz",
            source_id=mbid,
            title=title,
            artists=artists,
            album=clean(release.get("title"), MAX_TITLE),
            album_id=release_id if MBID.fullmatch(release_id) else "",
            year=year_of(item.get("first-release-date")) or year_of(release.get("date")),
            tags=tuple(x for x in (clean(t.get("name"), MAX_TAG) for t in tags[:MAX_TAGS]) if x),
        )


def _votes(tag: dict[str, Any]) -> int:
    """How many people gave a MusicBrainz tag (none when it does not say)."""
    count = tag.get("count")
    return count if isinstance(count, int) else 0


def _lucene(text: str) -> str:
    """Text safe inside a quoted Lucene phrase (MusicBrainz's query syntax)."""
    return re.sub(r'(["\\])', r"\\\1", text)
