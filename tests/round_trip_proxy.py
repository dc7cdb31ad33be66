"""A loopback TCP proxy in front of a real redis-server that counts request flights.

A flight is one burst of client bytes: the proxy holds what the client sends until the
client has been quiet for ``quiet`` seconds, then forwards it whole. The server therefore
never answers part of a burst early, and a second flight can only start after the client
has read replies, which is exactly a round trip. Commands are counted with hiredis, so a
test can also check what each flight asked for.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import hiredis


@dataclass
class Flight:
    commands: list[list[bytes]] = field(default_factory=list)


class RoundTripProxy:
    def __init__(self, upstream_port: int, quiet: float = 0.005) -> None:
        self.upstream_port = upstream_port
        self.quiet = quiet
        self.flights: list[Flight] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def start(self) -> RoundTripProxy:
        self._thread.start()
        self._ready.wait(5)
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def reset(self) -> None:
        with self._lock:
            self.flights.clear()

    @property
    def rounds(self) -> int:
        with self._lock:
            return len(self.flights)

    def commands(self) -> list[list[list[bytes]]]:
        with self._lock:
            return [list(f.commands) for f in self.flights]

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        pending = bytearray()
        parser = hiredis.Reader()
        timer: asyncio.TimerHandle | None = None

        def flush() -> None:
            flight = Flight()
            parser.feed(bytes(pending))
            while (command := parser.gets()) is not False:
                flight.commands.append(command)
            with self._lock:
                self.flights.append(flight)
            server_w.write(bytes(pending))
            pending.clear()

        async def upstream() -> None:
            nonlocal timer
            while data := await client_r.read(1 << 20):
                pending.extend(data)
                if timer is not None:
                    timer.cancel()
                timer = self._loop.call_later(self.quiet, flush)
            server_w.close()

        async def downstream() -> None:
            while data := await server_r.read(1 << 20):
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)
