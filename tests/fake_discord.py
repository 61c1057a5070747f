"""A stand-in for Discord's HTTP API and gateway on 127.0.0.1, for tests that run the
real `musicbot run` in a child process (the machine has no internet).

It answers what discord.py needs to log in and connect (the bot user, the application,
HELLO, READY with the guilds it is given, heartbeat ACKs) and command-tree syncs (global and per
server, recorded in `synced`), and nothing else. The child points
discord.py at it with `launcher()`, the only change to the real start-up path.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web

BOT_ID = "1000"
BOT_USER = {
    "id": BOT_ID,
    "username": "musicbot",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}


GATEWAY_PRESENCE = 1 << 12
GATEWAY_GUILD_MEMBERS = 1 << 14
GATEWAY_MESSAGE_CONTENT = 1 << 18
ALL_INTENTS_TICKED = GATEWAY_PRESENCE | GATEWAY_GUILD_MEMBERS | GATEWAY_MESSAGE_CONTENT
PRIVILEGED_INTENT_BITS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, content


def _json(payload: object, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only if Content-Type is exactly application/json.
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={"Content-Type": "application/json"},
    )


@dataclass
class FakeDiscord:
    """Start with `await fake.start()`; `url` is the base the child must use."""

    runner: web.AppRunner | None = None
    port: int = 0
    identified: int = 0  # gateway sessions that sent IDENTIFY
    shards: list[list[int]] = field(default_factory=list)  # [shard id, count] each identified
    requests: list[str] = field(default_factory=list)
    # (guild id or None, the command names) for each sync of the command tree
    synced: list[tuple[str | None, list[str]]] = field(default_factory=list)
    # The application's flags: which privileged intents the Developer Portal has ticked
    # (all three by default: Presence, Server Members, Message Content).
    flags: int = ALL_INTENTS_TICKED
    # Close the gateway with 4014 (disallowed intents), as Discord does when IDENTIFY
    # asks for a privileged intent that is not ticked, whatever `flags` says.
    refuse_privileged: bool = False
    # The servers READY lists (as unavailable, as Discord first sends them).
    guild_ids: list[str] = field(default_factory=list)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_put("/api/v10/applications/{app}/commands", self._sync)
        app.router.add_put("/api/v10/applications/{app}/guilds/{guild}/commands", self._sync)
        app.router.add_route("*", "/{tail:.*}", self._anything)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Go away as Discord does in an outage: open gateways are closed (going away)."""
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self.runner is not None:
            await self.runner.cleanup()

    def launcher(self, *argv: str) -> str:
        """Python code for `python -c`: point discord.py here, then run the real CLI."""
        return (
            "import sys, yarl, discord.http, discord.gateway\n"
            f"discord.http.Route.BASE = {self.url + '/api/v10'!r}\n"
            "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = "
            f"yarl.URL({self.url.replace('http', 'ws') + '/gateway'!r})\n"
            "from bot.frontends.cli import main\n"
            f"sys.exit(main({list(argv)!r}))\n"
        )

    def run_bot(self, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        """`musicbot run` against this fake in a real child process, its output in `log`."""
        with open(log, "w") as out:
            return subprocess.Popen(
                [sys.executable, "-c", self.launcher("run")],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @contextlib.contextmanager
    def bot_running(
        self, env: dict[str, str], cwd: Path, log: Path
    ) -> Iterator[subprocess.Popen[bytes]]:
        """`run_bot`, killed on the way out if the test left it running."""
        bot = self.run_bot(env, cwd, log)
        try:
            yield bot
        finally:
            if bot.poll() is None:
                bot.kill()
                bot.wait()

    async def _me(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return _json(BOT_USER)

    async def _application(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return _json(
            {
                "id": BOT_ID,
                "name": "musicbot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": BOT_USER,
                "verify_key": "0" * 64,
                "flags": self.flags,
            }
        )

    async def _sync(self, request: web.Request) -> web.Response:
        """Bulk overwrite: Discord answers with the commands as it stored them."""
        self.requests.append(f"{request.method} {request.path}")
        commands = await request.json()
        guild = request.match_info.get("guild")
        self.synced.append((guild, [c["name"] for c in commands]))
        stored = [
            {
                "description": "",
                **command,
                "id": str(2000 + number),
                "application_id": BOT_ID,
                "version": "1",
                **({"guild_id": guild} if guild else {}),
            }
            for number, command in enumerate(commands)
        ]
        return _json(stored)

    async def _anything(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path}")
        return _json({"message": "not in the fake", "code": 0}, status=404)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            if payload.get("op") == 1:  # heartbeat
                await ws.send_str(json.dumps({"op": 11, "d": None}))
            elif payload.get("op") == 2:  # identify
                if self.refuse_privileged and payload["d"].get("intents", 0) & (
                    PRIVILEGED_INTENT_BITS
                ):
                    await ws.close(code=4014, message=b"Disallowed intent(s).")
                    break
                self.identified += 1
                if payload["d"].get("shard") is not None:
                    self.shards.append(payload["d"]["shard"])
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [{"id": g, "unavailable": True} for g in self.guild_ids],
                    "session_id": f"session-{self.identified}",
                    "resume_gateway_url": self.url.replace("http", "ws") + "/gateway",
                    "application": {"id": BOT_ID, "flags": 0},
                }
                if payload["d"].get("shard") is not None:  # Discord echoes it when sharded
                    ready["shard"] = payload["d"]["shard"]
                await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": 1, "d": ready}))
        return ws
