"""The soak's subscription load (``bench.soak --subscribers N``): dashboards that come and go.

While the HTTP load runs, a feeder appends regime changes to ``argus:events`` at a fixed
rate (as the writer does, ``MAXLEN ~`` bounding the stream) for a small set of hot symbols,
and ``N`` WebSocket clients (``graphql-transport-ws``, the dashboards' ``pro`` key) loop:
connect, subscribe to one to five hot symbols (in the variables of one of three documents,
as a dashboard's client sends them) with one of a few selections, read for two to
eight seconds, ``complete``, close, and start again. So the server keeps opening and
closing subscriptions, readers and loaders for the whole run, which is where a leak would
show in its RSS.

Every message must be a ``next`` without errors (a ``complete`` answers ``complete``);
anything else, a refused subscribe, a connection that fails or a close that is not normal
fails the soak. Latency is from the change's ``computed_at`` (stamped by the feeder just
before the XADD) to its arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from argus import keys

#: What the dashboards select: the change alone, or with the symbol's regimes (a Redis load).
SELECTIONS = (
    "id label previous timeframe computedAt",
    "id computedAt symbol { symbol regime { timeframe label confidence } }",
    "id computedAt label symbol { regime(timeframes: [H1, D1]) { label stale } novelty { score } }",
)
LABELS = ("trending_up", "trending_down", "ranging", "volatile")
TIMEFRAMES = ("1h", "4h", "1d")
HOT = 50  # symbols the changes and the subscriptions share
STREAM_MAXLEN = 10_000


@dataclass
class SubscriptionStats:
    sessions: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    appended: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def problem(self, kind: str, example: object) -> None:
        self.problems[kind] += 1
        self.examples.setdefault(kind, str(example)[:300])


async def feed(redis_url: str, symbols: list[str], rate: float, stop: float,
               stats: SubscriptionStats, rng: random.Random) -> None:
    client = aioredis.Redis.from_url(redis_url)
    started = time.perf_counter()
    try:
        while True:
            due = started + stats.appended / rate
            now = time.perf_counter()
            if due >= stop or now >= stop:
                return
            if due > now:
                await asyncio.sleep(due - now)
            previous, label = rng.sample(LABELS, 2)
            await client.xadd(keys.EVENTS, {
                "kind": "regime", "symbol": rng.choice(symbols), "tf": rng.choice(TIMEFRAMES),
                "label": label, "previous": previous, "computed_at": repr(time.time())},
                maxlen=STREAM_MAXLEN, approximate=True)
            stats.appended += 1
    finally:
        await client.aclose()


async def dashboard(url: str, key: str, symbols: list[str], stop: float, warmup_end: float,
                    stats: SubscriptionStats, rng: random.Random) -> None:
    while time.perf_counter() < stop:
        # As a dashboard sends it: its one document, the symbols in its variables.
        query = ("subscription($symbols: [String!]!) { regimeChanges(symbols: $symbols) "
                 f"{{ {rng.choice(SELECTIONS)} }} }}")
        variables: dict[str, object] = {"symbols": rng.sample(symbols, rng.randint(1, 5))}
        try:
            await session(url, key, query, variables,
                          min(stop, time.perf_counter() + rng.uniform(2, 8)), warmup_end, stats)
        except ConnectionClosed as exc:
            stats.problem(f"closed {exc.rcvd.code if exc.rcvd else 'without a frame'}", exc)
        except (OSError, TimeoutError) as exc:
            stats.problem(type(exc).__name__, exc)


async def session(url: str, key: str, query: str, variables: dict[str, object], until: float,
                  warmup_end: float, stats: SubscriptionStats) -> None:
    async with connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                       open_timeout=10, close_timeout=5) as ws:
        await ws.send(orjson.dumps({"type": "connection_init",
                                    "payload": {"X-API-Key": key}}).decode())
        ack = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        if ack.get("type") != "connection_ack":
            stats.problem("no connection_ack", ack)
            return
        await ws.send(orjson.dumps({"id": "s", "type": "subscribe",
                                    "payload": {"query": query, "variables": variables}}).decode())
        while (left := until - time.perf_counter()) > 0:
            try:
                raw = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            message = orjson.loads(raw)
            payload = message.get("payload")
            if message.get("type") != "next" or not isinstance(payload, dict) or "errors" in payload:
                stats.problem(f"message {message.get('type')}", message)
                return
            stats.delivered += 1
            change = payload["data"]["regimeChanges"]
            now = time.time()
            if time.perf_counter() >= warmup_end and change.get("computedAt"):
                sent = datetime.fromisoformat(change["computedAt"]).timestamp()
                stats.latencies.append((now - sent) * 1000.0)
        await ws.send('{"id": "s", "type": "complete"}')
        with contextlib.suppress(ConnectionClosedOK):
            await ws.close()
        stats.sessions += 1


async def run_subscriptions(port: int, redis_url: str, symbols: list[str], key: str,
                            subscribers: int, change_rate: float, seconds: float,
                            warmup: float, stats: SubscriptionStats, seed: int) -> None:
    rng = random.Random(seed)
    hot = symbols[:HOT]
    started = time.perf_counter()
    stop, warmup_end = started + seconds, started + warmup
    url = f"ws://127.0.0.1:{port}/graphql"
    await asyncio.gather(
        feed(redis_url, hot, change_rate, stop, stats, random.Random(rng.random())),
        *(dashboard(url, key, hot, stop, warmup_end, stats, random.Random(rng.random()))
          for _ in range(subscribers)))


def failures(stats: SubscriptionStats, subscribers: int) -> list[str]:
    out = [f"subscriptions: {kind} x{count}: {stats.examples[kind]}"
           for kind, count in stats.problems.items()]
    if subscribers and (stats.sessions == 0 or stats.delivered == 0):
        out.append(f"subscriptions: {stats.sessions} sessions, {stats.delivered} deliveries")
    return out
