"""Local stand-ins for Spotify's Web API and MusicBrainz's web service, on 127.0.0.1.

They answer with payloads shaped as each API documents them (Spotify's client-credentials
token endpoint, GET /v1/tracks/{id}, /v1/search?type=track, /v1/artists/{id};
MusicBrainz's /ws/2/recording?query=…&fmt=json), and can be told to misbehave the ways the
real services do: 429 with Retry-After, 503, answering too slowly, answering garbage.
Every request is recorded (path, query, headers), so a test can see what left the bot.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from recommender.search import normalize

TOKEN = "BQD-fake-access-token"


@dataclass
class FakeSong:
    """One song the fake services know (and the catalog lacks)."""

    spotify_id: str
    mbid: str
    title: str
    artist: str
    artist_id: str
    album: str
    album_id: str
    release_date: str
    popularity: int = 70
    genres: tuple[str, ...] = ()


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass
class FakeMusicApis:
    """Both services in one aiohttp app; `mode` says how the next requests are answered:
    "ok", "429", "503", "slow", "garbage", "500"."""

    songs: list[FakeSong] = field(default_factory=list)
    mode: str = "ok"
    delay: float = 0.0  # every answer waits this long (a benchmark's slow source)
    slow_seconds: float = 5.0
    retry_after: str = "7"
    requests: list[Seen] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, lookup: str = "auto") -> dict[str, Any]:
        """Settings that point the bot's lookups here."""
        return {
            "lookup": lookup,
            "spotify_client_id": "fake-client",
            "spotify_client_secret": "fake-secret",
            "spotify_api_url": f"{self.base}/v1",
            "spotify_token_url": f"{self.base}/api/token",
            "musicbrainz_url": f"{self.base}/ws/2",
        }

    def asked(self, prefix: str) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    async def start(self) -> FakeMusicApis:
        app = web.Application()
        app.router.add_post("/api/token", self.token)
        app.router.add_get("/v1/tracks/{id}", self.track)
        app.router.add_get("/v1/search", self.search)
        app.router.add_get("/v1/artists/{id}", self.artist)
        app.router.add_get("/ws/2/recording", self.recordings)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- behaviour shared by every endpoint ----------------------------------------------
    async def _misbehave(self, request: web.Request) -> web.StreamResponse | None:
        self.requests.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                time.monotonic(),
            )
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "429":
            return web.json_response(
                {"error": {"status": 429, "message": "API rate limit exceeded"}},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        if self.mode == "503":
            return web.json_response(
                {"error": "Your requests are exceeding the allowable rate limit."},
                status=503,
                headers={"Retry-After": self.retry_after},
            )
        if self.mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.mode == "garbage":
            return web.Response(
                status=200, text="<html>gateway</html>{", content_type="application/json"
            )
        return None

    # -- Spotify ------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if (bad := await self._misbehave(request)) is not None:
            return bad
        if form.get("grant_type") != "client_credentials" or not request.headers.get(
            "Authorization", ""
        ).startswith("Basic "):
            return web.json_response({"error": "invalid_client"}, status=400)
        return web.json_response(
            {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
        )

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def _track_json(self, song: FakeSong) -> dict[str, Any]:
        return {
            "album": {
                "album_type": "album",
                "id": song.album_id,
                "name": song.album,
                "release_date": song.release_date,
                "release_date_precision": "day",
                "type": "album",
                "uri": f"spotify:album:{song.album_id}",
            },
            "artists": [
                {
                    "id": song.artist_id,
                    "name": song.artist,
                    "type": "artist",
                    "uri": f"spotify:artist:{song.artist_id}",
                }
            ],
            "duration_ms": 203_000,
            "explicit": False,
            "external_urls": {"spotify": f"https://open.spotify.com/track/{song.spotify_id}"},
            "id": song.spotify_id,
            "name": song.title,
            "popularity": song.popularity,
            "type": "track",
            "uri": f"spotify:track:{song.spotify_id}",
        }

    async def track(self, request: web.Request) -> web.StreamResponse:
        if (bad := await self._misbehave(request)) is not None:
            return bad
        if not self._authorised(request):
            return web.json_response({"error": {"status": 401, "message": "No token"}}, status=401)
        for song in self.songs:
            if song.spotify_id == request.match_info["id"]:
                return web.json_response(self._track_json(song))
        return web.json_response(
            {"error": {"status": 404, "message": "Resource not found"}}, status=404
        )

    async def search(self, request: web.Request) -> web.StreamResponse:
        if (bad := await self._misbehave(request)) is not None:
            return bad
        if not self._authorised(request):
            return web.json_response({"error": {"status": 401, "message": "No token"}}, status=401)
        q = request.query.get("q", "")
        title = _field(q, "track") or q
        artist = _field(q, "artist")
        items = [
            self._track_json(s)
            for s in self.songs
            if normalize(s.title) == normalize(title)
            and (not artist or normalize(s.artist) == normalize(artist))
        ]
        return web.json_response(
            {
                "tracks": {
                    "href": str(request.url),
                    "items": items,
                    "limit": 5,
                    "next": None,
                    "offset": 0,
                    "previous": None,
                    "total": len(items),
                }
            }
        )

    async def artist(self, request: web.Request) -> web.StreamResponse:
        if (bad := await self._misbehave(request)) is not None:
            return bad
        for song in self.songs:
            if song.artist_id == request.match_info["id"]:
                return web.json_response(
                    {
                        "id": song.artist_id,
                        "name": song.artist,
                        "genres": list(song.genres),
                        "popularity": song.popularity,
                        "type": "artist",
                    }
                )
        return web.json_response({"error": {"status": 404, "message": "not found"}}, status=404)

    # -- MusicBrainz --------------------------------------------------------------------
    async def recordings(self, request: web.Request) -> web.StreamResponse:
        if (bad := await self._misbehave(request)) is not None:
            return bad
        if request.query.get("fmt") != "json":
            return web.Response(status=200, text="<metadata/>", content_type="application/xml")
        q = request.query.get("query", "")
        title = _field(q, "recording") or q
        artist = _field(q, "artist")
        found = [
            s
            for s in self.songs
            if normalize(s.title) == normalize(title)
            and (not artist or normalize(s.artist) == normalize(artist))
        ]
        return web.json_response(
            {
                "created": "2026-12-07T12:00:00.000Z",
                "count": len(found),
                "offset": 0,
                "recordings": [
                    {
                        "id": s.mbid,
                        "score": 100,
                        "title": s.title,
                        "length": 203000,
                        "video": None,
                        "artist-credit": [
                            {"name": s.artist, "artist": {"id": s.mbid, "name": s.artist}}
                        ],
                        "first-release-date": s.release_date,
                        "releases": [
                            {
                                "id": s.mbid[:-1] + "f",
                                "title": s.album,
                                "status": "Official",
                                "date": s.release_date,
                            }
                        ],
                        "tags": [{"count": 3, "name": g} for g in s.genres],
                    }
                    for s in found
                ],
            }
        )


def _field(query: str, name: str) -> str:
    match = re.search(rf'{name}:"((?:[^"\\]|\\.)*)"', query)
    return json.loads(f'"{match.group(1)}"') if match else ""
