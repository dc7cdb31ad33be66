"""Subscription latency: ``python -m bench.sub_latency [--events 300] [--subscribers 1,10,100]``.

Starts its own redis-server (free port) and ``argus serve`` as a real uvicorn process
(``ARGUS_ANONYMOUS_TIER=internal``), opens N graphql-transport-ws subscribers to
``regimeChanges(symbols: ["BTC"])``, then XADDs regime changes to ``argus:events`` one at a
time (a few ms apart, as the writer's batches come) and prints, per N and per selection,
the latency from just before each XADD is sent to its delivery at every subscriber
(p50, p99, max over events × subscribers). The goal (Apex) is 100 ms.

``--client raw`` reads the WebSocket frames with a minimal reader of its own instead of the
``websockets`` library, whose client spends more CPU on a large burst than the server does
(both share the machine's two cores). ``--transport sse`` subscribes over GraphQL over SSE (``POST /graphql``, ``Accept:
text/event-stream``, as the dashboard does) instead of ``graphql-transport-ws``.

Two selections: ``plain`` (``id label timeframe``: the event alone) and ``symbol`` (adds
``symbol { regime { label } }``: each event also reads the symbol's regime hashes, two Redis
rounds per event, whatever the number of subscribers: they share the event's loader).
Subscribers that send the same document share its execution; ``--distinct`` gives each its
own document (``symbols: ["BTC", "S<i>"]``), the worst case. The XADD and the subscribers
run in this one process, so both ends read the same clock (and the 2-core machine's
second core is shared by the server, Redis and this client). So each row also prints the
CPU time the server process and this client spent per burst appended (``/proc``'s
``utime + stime``, from the first XADD until the last delivery): where the latency of a
large burst goes, the server's share is the server's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import statistics
import subprocess
import sys
import time

import httpx
import orjson
import redis
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from argus import keys
from tests.processes import running, wait_until_healthy
from tests.redis_server import RedisServer, free_port
from tests.seed import full_symbol

SELECTIONS = {
    "plain": "id label timeframe",
    "symbol": "id label timeframe symbol { regime { label } }",
}
SYMBOL = "BINANCE:BTC-USDT"


def subscription(selection: str, other: str) -> str:
    """The document every subscriber sends: BTC's changes (and ``other``'s, for --distinct)."""
    return f'subscription {{ regimeChanges(symbols: ["BTC"{other}]) {{ {selection} }} }}'


async def stopped(task: asyncio.Task[None]) -> None:
    """Cancel a subscriber's reading task and wait until it has ended."""
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


class Deliveries:
    """Receive times by event id, across every subscriber; set ``done`` at ``expected``."""

    def __init__(self, expected: int) -> None:
        self.times: dict[str, list[float]] = {}
        self.count = 0
        self.expected = expected
        self.errors: list[object] = []
        self.done = asyncio.Event()

    def add(self, message: dict[str, object], now: float) -> None:
        payload = message.get("payload")
        data = payload.get("data") if isinstance(payload, dict) else None
        if message.get("type") != "next" or not isinstance(data, dict):
            self.errors.append(message)
            self.done.set()
            return
        self.times.setdefault(data["regimeChanges"]["id"], []).append(now)
        self.count += 1
        if self.count >= self.expected:
            self.done.set()


async def subscriber(url: str, selection: str, deliveries: Deliveries,
                     readers: set[asyncio.Task[None]], other: str) -> ClientConnection:
    ws = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send('{"type": "connection_init"}')
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    query = subscription(selection, other)
    await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}).decode())

    async def read() -> None:
        async for raw in ws:
            deliveries.add(orjson.loads(raw), time.perf_counter())

    task = asyncio.create_task(read())
    readers.add(task)
    task.add_done_callback(readers.discard)
    return ws


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 §5.3: a client masks every frame it sends)."""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([0x80 | size]) if size < 126
                                     else bytes([0x80 | 126]) + size.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawSubscriber:
    """A ``graphql-transport-ws`` subscriber that reads frames off the socket itself, with a
    receive time per read (``--client raw``): about the cost of a client in a compiled
    language, so that with 100 subscribers the latency shows the server's, not the bench's
    own ``websockets`` client's (which spends more CPU on a burst than the server does)."""

    def __init__(self, writer: asyncio.StreamWriter, task: asyncio.Task[None]) -> None:
        self.writer = writer
        self.task = task

    @classmethod
    async def open(cls, base: str, selection: str, deliveries: Deliveries,
                   other: str) -> RawSubscriber:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws"
                     "\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        query = subscription(selection, other)
        writer.write(_client_frame(1, b'{"type": "connection_init"}'))
        writer.write(_client_frame(1, orjson.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query}})))
        acked = asyncio.Event()

        async def read() -> None:
            buffer = b""
            while chunk := await reader.read(1 << 16):
                now = time.perf_counter()
                buffer += chunk
                at = 0
                while len(buffer) - at >= 2:
                    opcode, size, start = buffer[at] & 0x0F, buffer[at + 1] & 0x7F, at + 2
                    if size == 126:
                        size, start = int.from_bytes(buffer[at + 2:at + 4], "big"), at + 4
                    elif size == 127:
                        size, start = int.from_bytes(buffer[at + 2:at + 10], "big"), at + 10
                    if len(buffer) < start + size:
                        break
                    payload, at = buffer[start:start + size], start + size
                    if opcode == 9:  # ping: pong with its payload
                        writer.write(_client_frame(10, payload))
                    elif opcode == 1:
                        message = orjson.loads(payload)
                        if message.get("type") == "connection_ack":
                            acked.set()
                        else:
                            deliveries.add(message, now)
                buffer = buffer[at:]

        task = asyncio.create_task(read())
        await acked.wait()
        return cls(writer, task)

    async def close(self) -> None:
        await stopped(self.task)
        self.writer.close()


class SseSubscriber:
    """One subscription over GraphQL over SSE (``POST /graphql``, ``Accept: text/event-stream``),
    as the dashboard subscribes."""

    def __init__(self, http: httpx.AsyncClient, task: asyncio.Task[None]) -> None:
        self.http = http
        self.task = task

    @classmethod
    async def open(cls, base: str, selection: str, deliveries: Deliveries,
                   other: str) -> SseSubscriber:
        http = httpx.AsyncClient(base_url=base, timeout=None)
        query = subscription(selection, other)
        opened = asyncio.Event()

        async def read() -> None:
            async with http.stream("POST", "/graphql", json={"query": query},
                                   headers={"accept": "text/event-stream"}) as response:
                opened.set()
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        deliveries.add({"type": "next", "payload": orjson.loads(line[6:])},
                                       time.perf_counter())

        task = asyncio.create_task(read())
        await opened.wait()
        return cls(http, task)

    async def close(self) -> None:
        await stopped(self.task)
        await self.http.aclose()


async def measure(base: str, redis_url: str, subscribers: int, events: int, selection: str,
                  gap: float, distinct: bool, burst: int, server_pid: int,
                  spent: list[float], transport: str = "ws",
                  ws_client: str = "websockets") -> list[float]:
    """The latencies; ``spent`` gets the server's and this client's CPU seconds per burst."""
    deliveries = Deliveries(events * subscribers)
    readers: set[asyncio.Task[None]] = set()
    url = base.replace("http://", "ws://") + "/graphql"
    sockets: list[ClientConnection | SseSubscriber | RawSubscriber] = []
    for i in range(subscribers):
        other = f', "S{i}"' if distinct else ""
        if transport == "sse":
            sockets.append(await SseSubscriber.open(base, SELECTIONS[selection], deliveries, other))
        elif ws_client == "raw":
            sockets.append(await RawSubscriber.open(base, SELECTIONS[selection], deliveries, other))
        else:
            sockets.append(await subscriber(url, SELECTIONS[selection], deliveries, readers, other))
    client = aioredis.Redis.from_url(redis_url)
    await asyncio.sleep(0.5)  # every subscribe admitted and registered
    sent: dict[str, float] = {}
    labels = ("trending_up", "ranging")
    cpu_before = (cpu_seconds(server_pid), cpu_seconds())
    for start in range(0, events, burst):
        started = time.perf_counter()
        pipe = client.pipeline(transaction=True)  # as the writer appends a batch's changes
        for i in range(start, min(events, start + burst)):
            pipe.xadd(keys.EVENTS, {
                "kind": "regime", "symbol": SYMBOL, "tf": "1h", "label": labels[i % 2],
                "previous": labels[(i + 1) % 2], "computed_at": str(time.time())})
        for entry in await pipe.execute():
            sent[keys.text(entry)] = started
        await asyncio.sleep(gap)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(deliveries.done.wait(), 30)
    bursts = -(-events // burst)
    spent.extend([(cpu_seconds(server_pid) - cpu_before[0]) / bursts,
                  (cpu_seconds() - cpu_before[1]) / bursts])
    for ws in sockets:
        await ws.close()
    await client.aclose()
    if deliveries.errors:
        raise RuntimeError(f"errors instead of events: {deliveries.errors[:1]}")
    latencies = [(t - sent[i]) * 1000 for i, times in deliveries.times.items() if i in sent
                 for t in times]
    if len(latencies) != events * subscribers:
        raise RuntimeError(f"{events * subscribers - len(latencies)} deliveries missing")
    return latencies


def cpu_seconds(pid: int | None = None) -> float:
    """User plus system CPU time of a process so far (this one by default), from ``/proc``."""
    if pid is None:
        return time.process_time()
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--subscribers", default="1,10,100")
    parser.add_argument("--selections", default="plain,symbol")
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between XADDs")
    parser.add_argument("--burst", type=int, default=1,
                        help="changes appended at once (one MULTI, as the writer's batches)")
    parser.add_argument("--transport", choices=("ws", "sse"), default="ws",
                        help="graphql-transport-ws (Apex) or GraphQL over SSE (the dashboard)")
    parser.add_argument("--client", choices=("websockets", "raw"), default="websockets",
                        help="the WebSocket client: the websockets library, or a minimal frame "
                             "reader (about a compiled client's cost)")
    parser.add_argument("--distinct", action="store_true",
                        help="every subscriber sends a document of its own (no shared execution)")
    args = parser.parse_args()
    server = RedisServer().start()
    port = free_port()
    try:
        full_symbol(redis.Redis.from_url(server.url), SYMBOL, [])
        env = {**os.environ, "ARGUS_REDIS_URL": server.url, "ARGUS_ANONYMOUS_TIER": "internal",
               "ARGUS_UNIVERSE_REFRESH": "3600"}
        with running([sys.executable, "-m", "argus", "serve", "--port", str(port)], env=env,
                     stdin=subprocess.DEVNULL) as process:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(base, process)
            print(f"XADD -> delivery, {args.events} events in bursts of {args.burst} "
                  f"{args.gap * 1000:.0f} ms apart, "
                  f"one symbol, {'distinct' if args.distinct else 'identical'} documents, "
                  f"over {args.transport}")
            print(f"{'selection':<9} {'subs':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
                  f" {'server CPU':>11} {'client CPU':>11}   (CPU: ms per burst)")
            for selection in args.selections.split(","):
                for n in (int(x) for x in args.subscribers.split(",")):
                    spent: list[float] = []
                    latencies = asyncio.run(measure(base, server.url, n, args.events, selection,
                                                    args.gap, args.distinct, args.burst,
                                                    process.pid, spent, args.transport,
                                                    args.client))
                    print(f"{selection:<9} {n:>5} {statistics.median(latencies):>8.2f} "
                          f"{percentile(latencies, 0.99):>8.2f} {max(latencies):>8.2f}"
                          f" {1000 * spent[0]:>11.2f} {1000 * spent[1]:>11.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
