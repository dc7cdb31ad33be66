"""A loopback TCP proxy in front of a real redis-server that cuts connections by phase.

Faults (``FaultProxy.cut``) apply to every connection, from the moment they are set:

* ``refuse``: the port stops listening (a connect is refused); open connections drop.
* ``accept_close``: a connect is accepted, then closed at once; open connections drop.
* ``mid_write``: a connection forwards ``after`` bytes of what the client sends, then drops.
* ``mid_read``: a connection forwards ``after`` bytes of the server's replies, then drops.
* ``between_rounds``: a connection's first round (one burst of client bytes) and its reply
  pass whole; the next round drops the connection before any of it reaches the server
  (between discovery and fetch, for Argus' two rounds).

A drop is a reset (RST, as a crashed proxy or a firewall sends) or, with ``reset=False``,
an orderly close (FIN). ``delay`` holds every chunk of the server's replies that long (a
slow Redis, without the fault of one that stops). Like ``tests.round_trip_proxy``, the
proxy runs its own event loop in a thread, so it serves an app on any loop.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Phase = Literal["refuse", "accept_close", "mid_write", "mid_read", "between_rounds"]
PHASES: tuple[Phase, ...] = ("refuse", "accept_close", "mid_write", "mid_read", "between_rounds")


@dataclass(frozen=True)
class Fault:
    phase: Phase
    after: int = 0
    reset: bool = True


class _Link:
    """One client connection and its upstream; the bytes each way since the fault was set."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter | None,
                 epoch: int) -> None:
        self.client = client
        self.server = server
        self.epoch = epoch
        self.sent = 0  # client bytes forwarded to the server
        self.received = 0  # server bytes forwarded to the client
        self.rounds = 0  # client bursts that began after a reply (or at the start)
        self.replied = True  # the server has answered since the last burst
        self.dropped = False

    def rebase(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.sent, self.received, self.rounds, self.replied = epoch, 0, 0, 0, True


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.fault: Fault | None = None
        self.delay = 0.0
        #: Connections accepted, and connections the proxy dropped for a fault.
        self.accepted = 0
        self.cuts = 0
        #: Bytes forwarded, client to server and back, over every connection.
        self.bytes_up = 0
        self.bytes_down = 0
        self._epoch = 0
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._call(self._close_all)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()

    def cut(self, phase: Phase, after: int = 0, reset: bool = True) -> None:
        """Cut every connection at ``phase`` from now on (until ``heal``)."""
        self._call(self._set, Fault(phase, after, reset))

    def heal(self) -> None:
        self._call(self._set, None)

    def slow(self, seconds: float) -> None:
        """Hold each chunk of the server's replies ``seconds`` (0: forward at once)."""
        self.delay = seconds

    @property
    def open_connections(self) -> int:
        return int(self._call(lambda: sum(not link.dropped for link in self._links)))

    # --- the proxy's own loop ----------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the proxy's loop and return its result (sync or async)."""
        async def call() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._ready.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _set(self, fault: Fault | None) -> None:
        self.fault = fault
        self._epoch += 1
        if fault is not None and fault.phase in ("refuse", "accept_close"):
            for link in list(self._links):
                self._drop(link, fault.reset)
        if fault is not None and fault.phase == "refuse":
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
        elif self._server is None:
            await self._listen()  # the same port again

    async def _close_all(self) -> None:
        for link in list(self._links):
            self._drop(link, reset=False, counted=False)
        if self._server is not None:
            self._server.close()
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def _drop(self, link: _Link, reset: bool, counted: bool = True) -> None:
        if link.dropped:
            return
        link.dropped = True
        if counted:
            self.cuts += 1
        for writer in (link.client, link.server):
            if writer is None:
                continue
            if reset:
                sock = writer.get_extra_info("socket")
                if sock is not None:  # linger 0: close sends RST, not FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            else:
                writer.close()
        self._links.discard(link)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        fault = self.fault
        if fault is not None and fault.phase == "accept_close":
            self._drop(_Link(client_w, None, self._epoch), fault.reset)
            return
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.transport.abort()
            return
        link = _Link(client_w, server_w, self._epoch)
        self._links.add(link)

        async def upstream() -> None:
            while not link.dropped and (data := await client_r.read(1 << 16)):
                link.rebase(self._epoch)
                fault = self.fault
                if link.replied:
                    link.rounds += 1
                    link.replied = False
                if fault is not None and fault.phase == "between_rounds" and link.rounds > 1:
                    self._drop(link, fault.reset)
                    return
                if fault is not None and fault.phase == "mid_write":
                    room = fault.after - link.sent
                    if room < len(data):
                        if room > 0:
                            server_w.write(data[:room])
                            link.sent += room
                            self.bytes_up += room
                        self._drop(link, fault.reset)
                        return
                server_w.write(data)
                link.sent += len(data)
                self.bytes_up += len(data)
            if not link.dropped:
                server_w.close()

        async def downstream() -> None:
            while not link.dropped and (data := await server_r.read(1 << 16)):
                if self.delay:
                    await asyncio.sleep(self.delay)
                    if link.dropped:
                        return
                link.rebase(self._epoch)
                fault = self.fault
                if fault is not None and fault.phase == "mid_read":
                    room = fault.after - link.received
                    if room < len(data):
                        if room > 0:
                            client_w.write(data[:room])
                            link.received += room
                            self.bytes_down += room
                            # Let the partial reply leave before the connection drops.
                            await client_w.drain()
                        self._drop(link, fault.reset)
                        return
                client_w.write(data)
                link.received += len(data)
                self.bytes_down += len(data)
                link.replied = True
                await client_w.drain()
            if not link.dropped:
                client_w.close()

        async def guarded(direction: Callable[[], Any]) -> None:
            try:
                await direction()
            except OSError:  # one side reset: the other goes too, or it waits forever
                self._drop(link, reset=False, counted=False)

        try:
            await asyncio.gather(guarded(upstream), guarded(downstream))
        finally:
            self._drop(link, reset=False, counted=False)
