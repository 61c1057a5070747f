"""A TCP proxy on 127.0.0.1 in front of a real server (the machine's PostgreSQL), that a
test can turn into the network failures a database host has:

- `forward`: bytes pass both ways, as a working network;
- `blackhole`: connections are still accepted, but nothing is forwarded either way, on
  new and open connections alike (a partition: the host answers TCP and then nothing);
- `refuse`: nothing listens on the port any more and open connections are cut, as when
  the server is down.

It runs its own event loop in a thread, so a stalled bot loop cannot stall the proxy
and the test can switch modes from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

FORWARD, BLACKHOLE, REFUSE = "forward", "blackhole", "refuse"


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = FORWARD
        # A fixed port, found once: the bot keeps the same URL across a refusal.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        self._call(self._close(listen_too=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def set_mode(self, mode: str) -> None:
        """Switch to `mode`; returns once the proxy behaves that way."""
        self._call(self._set_mode(mode))

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == REFUSE:
            await self._close(listen_too=True)
        elif self._server is None:
            await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _close(self, listen_too: bool) -> None:
        if listen_too and self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()  # a reset, as a dead host's kernel answers
        self._open.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._open.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.add(upstream_writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )
        for end in (writer, upstream_writer):
            self._open.discard(end)
            end.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                while self.mode == BLACKHOLE:  # held, never delivered while partitioned
                    await asyncio.sleep(0.05)
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()
