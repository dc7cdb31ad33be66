"""A loopback TCP proxy in front of a real redis-server that holds every client burst.

``slow(delay)`` makes each burst of client bytes wait ``delay`` seconds before it is
forwarded (in order, per connection) and counts, from then on, the bursts and the
connections that sent them. A request in flight holds one connection of its own, so
``waiting`` tells how many requests are waiting on Redis; ``arrivals`` alone does not (a new
connection's handshake is a burst of its own).
"""

from __future__ import annotations

import asyncio
import threading
import time


class SlowRedis:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.delay = 0.0
        self.port = 0
        self._arrivals = 0
        self._senders: set[int] = set()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SlowRedis:
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        async def close() -> None:  # cancel the held connections, so none is left pending
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(close()))
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def slow(self, delay: float) -> None:
        with self._lock:
            self.delay, self._arrivals = delay, 0
            self._senders.clear()

    @property
    def arrivals(self) -> int:
        with self._lock:
            return self._arrivals

    @property
    def waiting(self) -> int:
        """Connections that sent a burst since ``slow()``."""
        with self._lock:
            return len(self._senders)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def receive() -> None:
            while data := await client_r.read(1 << 20):
                with self._lock:
                    self._arrivals += 1
                    self._senders.add(id(client_r))
                    due = time.monotonic() + self.delay
                held.put_nowait((due, data))
            held.put_nowait((0.0, b""))

        async def forward() -> None:
            while True:
                due, data = await held.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                server_w.write(data)
            server_w.close()

        async def downstream() -> None:
            while data := await server_r.read(1 << 20):
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        await asyncio.gather(receive(), forward(), downstream(), return_exceptions=True)
