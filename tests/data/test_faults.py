"""Faults between Argus and Redis, through ``tests.fault_proxy``: a connection cut at any
phase, a slow Redis, a burst on an exhausted pool. Whatever happens, a request answers
503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``, or the right data; never anything else.

The app runs in-process on the event loop the server uses (uvloop) and on asyncio's own:
uvloop raises ``RuntimeError`` on a write to a transport it has closed, where asyncio
ignores the write, so a reset connection fails differently on each.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
import redis.asyncio as aioredis
import uvloop
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.testclient import TestClient

from argus import keys
from argus.data.transport import fastpipe
from argus.errors import ConfigurationError
from argus.http.app import create_app
from argus.settings import Settings
from tests.fault_proxy import PHASES, FaultProxy, Phase
from tests.http.test_subscriptions import connect, init
from tests.redis_server import RedisServer
from tests.seed import full_symbol

T = TypeVar("T")
#: Cuts per phase (per event loop), as issue 9 asks.
CUTS = 100
SYMBOL = "BINANCE:BTC-USDT"
QUERY = '{ symbol(symbol: "BTC") { symbol regime { label } novelty { score } } }'
#: Two roots: graphql-core's executor and the dataloader, not the compiled path.
TWO_ROOTS = ('{ a: symbol(symbol: "BTC") { symbol regime { label } } '
             'b: symbols(symbols: ["ETH", "BTC"]) { symbol novelty { score } } }')


def run_on(loop: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


@pytest.fixture(scope="module")
def upstream() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        seed = redis.Redis.from_url(server.url)
        full_symbol(seed, SYMBOL, ["BINANCE:ETH-USDT"])
        full_symbol(seed, "BINANCE:ETH-USDT", [SYMBOL])
        seed.close()
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxy(upstream: RedisServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream.port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def tiers(tmp_path: Path) -> Path:
    """Anonymous callers with a budget that never runs out: every request charges it (a
    Redis round of redis-py's own, besides the two packed ones), and none is refused."""
    path = tmp_path / "tiers.toml"
    path.write_text("[anonymous]\nbudget = 1000000000\n")
    return path


def settings_for(proxy: FaultProxy, tiers: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"redis_connect_timeout": 0.2, "redis_timeout": 0.3, **overrides}
    return Settings.from_env({}, redis_url=proxy.url, tiers_file=tiers, retry_after=7, **values)


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app, its lifespan running, and a client on it; unhandled errors answer the
    500 the server would send, rather than raising into the test."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://argus") as client):
        yield client, app.state.runtime.store


async def ask(client: httpx.AsyncClient, kind: str) -> httpx.Response:
    if kind == "rest":
        return await client.get("/api/intelligence/BTC")
    return await client.post("/graphql", json={"query": TWO_ROOTS if kind == "two" else QUERY})


def outcome(response: httpx.Response, kind: str, expected: dict[str, Any]) -> str:
    """``ok`` (the right data), ``unavailable`` (a proper 503), or what went wrong."""
    body = response.json()
    if response.status_code == 503:
        code = body["error"]["code"] if kind == "rest" else body["errors"][0]["extensions"]["code"]
        if code == "SERVICE_UNAVAILABLE" and response.headers.get("retry-after") == "7":
            return "unavailable"
    elif response.status_code == 200 and essence(body, kind) == expected[kind]:
        return "ok"
    return f"{response.status_code} {body}"


def essence(body: dict[str, Any], kind: str) -> Any:
    """What must be right in a 200 (the REST body's ages move with the clock)."""
    if kind == "rest":
        return (body["symbol"], {tf: r["regime"] for tf, r in (body["regime"] or {}).items()},
                (body["novelty"] or {}).get("score"))
    return {k: v for k, v in body.items() if k != "extensions"}


async def reference(client: httpx.AsyncClient) -> dict[str, Any]:
    out = {}
    for kind in ("graphql", "two", "rest"):
        response = await ask(client, kind)
        assert response.status_code == 200, response.text
        out[kind] = essence(response.json(), kind)
    assert "errors" not in out["two"]
    return out


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
@pytest.mark.parametrize("phase", PHASES)
def test_a_cut_at_any_phase_answers_503_or_the_right_data(
        proxy: FaultProxy, tiers: Path, phase: Phase, loop: str) -> None:
    async def main() -> tuple[Counter[str], int]:
        outcomes: Counter[str] = Counter()
        faulted = 0
        async with serving(settings_for(proxy, tiers)) as (client, _):
            expected = await reference(client)
            # A cut lands at every byte of a request's traffic (a fresh connection's
            # handshake included), and a little past it, where nothing is cut.
            before = proxy.bytes_up, proxy.bytes_down
            proxy.cut("accept_close")
            proxy.heal()
            assert (await ask(client, "graphql")).status_code == 200
            span = (proxy.bytes_up - before[0] if phase == "mid_write"
                    else proxy.bytes_down - before[1])
            positions = random.Random(phase).choices(range(span + span // 10), k=5 * CUTS)
            for i, after in enumerate(positions):
                if faulted >= CUTS:
                    break
                proxy.heal()
                if i % 2 == 0:  # a live connection in the reserve, as well as fresh ones
                    assert (await ask(client, "graphql")).status_code == 200
                cuts, accepted = proxy.cuts, proxy.accepted
                proxy.cut(phase, after=after, reset=i % 3 != 0)
                kind = ("graphql", "graphql", "two", "rest")[i % 4]
                outcomes[outcome(await ask(client, kind), kind, expected)] += 1
                refused = phase == "refuse" and proxy.accepted == accepted
                faulted += proxy.cuts > cuts or refused
        return outcomes, faulted

    outcomes, faulted = run_on(loop, main)
    assert faulted >= CUTS
    assert set(outcomes) <= {"ok", "unavailable"}, outcomes
    assert outcomes["unavailable"] >= CUTS // 2


def test_redis_that_drops_every_connection_while_idle_is_503_then_recovers(
        proxy: FaultProxy, tiers: Path) -> None:
    """The reported case: connections reset under a server on uvloop, between requests."""
    async def main() -> Counter[str]:
        outcomes: Counter[str] = Counter()
        async with serving(settings_for(proxy, tiers)) as (client, _):
            expected = await reference(client)
            for i in range(CUTS):
                proxy.cut("accept_close", reset=True)  # every open connection reset
                kind = ("graphql", "two", "rest")[i % 3]
                outcomes[outcome(await ask(client, kind), kind, expected)] += 1
                proxy.heal()
                outcomes[outcome(await ask(client, kind), kind, expected)] += 1
        return outcomes

    outcomes = run_on("uvloop", main)
    assert outcomes == {"unavailable": CUTS, "ok": CUTS}


async def test_a_handshake_cut_short_is_never_handed_to_the_next_lease(
        proxy: FaultProxy, upstream: RedisServer) -> None:
    """Cancelled while redis-py reads its reconnect handshake's replies (as a request
    deadline cancels), a reserved connection must not keep them for the next round."""
    redis.Redis.from_url(upstream.url).set("k", "v")
    client = aioredis.Redis.from_url(proxy.url, protocol=2, retry=Retry(NoBackoff(), 1))
    reserve = fastpipe.Reserve(client, keep=1)
    try:
        async with fastpipe.Lease(reserve) as lease:
            assert await lease.run([("GET", "k")]) == [b"v"]  # reserved, connected
        proxy.cut("accept_close")  # the reserved connection is reset while idle
        proxy.heal()
        proxy.slow(0.3)  # the reconnect's handshake replies come late
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1), fastpipe.Lease(reserve) as lease:
                await lease.run([("GET", "k")])
        await asyncio.sleep(0.4)  # the late replies arrive
        proxy.slow(0)
        async with fastpipe.Lease(reserve) as lease:
            assert await lease.run([("GET", "k")]) == [b"v"]
    finally:
        await client.aclose()


async def test_a_round_cut_short_is_never_handed_to_the_next_lease(
        proxy: FaultProxy, upstream: RedisServer) -> None:
    """Cancelled while the packed round reads its replies, the connection is dropped."""
    redis.Redis.from_url(upstream.url).set("k", "v")
    client = aioredis.Redis.from_url(proxy.url, protocol=2)
    reserve = fastpipe.Reserve(client, keep=1)
    try:
        async with fastpipe.Lease(reserve) as lease:
            assert await lease.run([("GET", "k")]) == [b"v"]  # connected
        proxy.slow(0.3)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1), fastpipe.Lease(reserve) as lease:
                await lease.run([("GET", keys.novelty("NOPE"))])
        await asyncio.sleep(0.4)
        proxy.slow(0)
        async with fastpipe.Lease(reserve) as lease:
            assert await lease.run([("GET", "k")]) == [b"v"]
    finally:
        await client.aclose()


def pool_settles(store: Any) -> bool:
    """Every connection of the store's pool is back: idle in the pool or in the reserve
    (which keeps its own out of the pool), none still in use."""
    pool, reserve = store.client.connection_pool, store.reserve
    return bool(set(pool._in_use_connections) == set(reserve._idle)
                and len(pool._in_use_connections) + len(pool._available_connections)
                <= pool.max_connections)


async def settled(store: Any) -> bool:
    """Whether the pool settles; work a deadline left behind (a dataloader batch runs in a
    task of its own) ends within the Redis timeouts, so wait for it that long at most."""
    for _ in range(100):
        if pool_settles(store):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("kind", ["graphql", "two", "rest"])
def test_a_slow_redis_answers_503_at_the_request_deadline(
        proxy: FaultProxy, tiers: Path, kind: str) -> None:
    """Each round stays within the Redis timeout, but the request's rounds together
    (budget, discovery, fetch) do not fit in its deadline."""
    async def main() -> None:
        settings = settings_for(proxy, tiers, redis_timeout=1.0, request_timeout=0.5)
        async with serving(settings) as (client, store):
            expected = await reference(client)
            proxy.slow(0.25)
            assert outcome(await ask(client, kind), kind, expected) == "unavailable"
            proxy.slow(0)
            assert await settled(store)
            assert outcome(await ask(client, kind), kind, expected) == "ok"

    run_on("uvloop", main)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_burst_on_an_exhausted_pool_is_answered_and_gives_every_connection_back(
        proxy: FaultProxy, tiers: Path, loop: str) -> None:
    """200 requests at once on 4 connections to a slow Redis: each answers, the right
    data or (past its deadline, waiting or working) 503; none hangs; afterwards the pool
    holds all its connections, in sync."""
    async def main() -> Counter[str]:
        settings = settings_for(proxy, tiers, redis_max_connections=4, redis_timeout=0.5,
                                request_timeout=1.0)
        async with serving(settings) as (client, store):
            expected = await reference(client)
            proxy.slow(0.02)
            kinds = [("graphql", "two", "rest")[i % 3] for i in range(200)]
            # A deadlock would hang here: fail instead, long after every deadline.
            async with asyncio.timeout(60):
                responses = await asyncio.gather(*[ask(client, kind) for kind in kinds])
            outcomes = Counter(outcome(r, kind, expected) for r, kind in zip(responses, kinds, strict=True))
            proxy.slow(0)
            assert await settled(store)
            assert await reference(client) == expected  # no connection out of sync
        return outcomes

    outcomes = run_on(loop, main)
    assert set(outcomes) <= {"ok", "unavailable"}, outcomes
    assert outcomes["ok"] > 0
    assert outcomes["unavailable"] > 0  # more than the deadline lets through


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_burst_past_the_pool_on_a_healthy_redis_queues_instead_of_shedding(
        proxy: FaultProxy, tiers: Path, loop: str) -> None:
    """200 requests at once on 4 connections: each waits for a place (well within its
    deadline) and answers the right data; redis-py's pool alone sheds most of them."""
    async def main() -> Counter[str]:
        settings = settings_for(proxy, tiers, redis_max_connections=4, request_timeout=60.0)
        async with serving(settings) as (client, store):
            expected = await reference(client)
            kinds = [("graphql", "two", "rest")[i % 3] for i in range(200)]
            responses = await asyncio.gather(*[ask(client, kind) for kind in kinds])
            assert await settled(store)
            return Counter(outcome(r, kind, expected) for r, kind in zip(responses, kinds, strict=True))

    assert run_on(loop, main) == {"ok": 200}


def test_the_request_deadline_is_a_positive_setting() -> None:
    assert Settings.from_env({}).request_timeout == 10.0
    assert Settings.from_env({"ARGUS_REQUEST_TIMEOUT": "2.5"}).request_timeout == 2.5
    with pytest.raises(ConfigurationError, match="ARGUS_REQUEST_TIMEOUT"):
        Settings.from_env({"ARGUS_REQUEST_TIMEOUT": "0"})


def test_a_websocket_subscribe_on_a_slow_redis_is_refused_at_the_request_deadline(
        proxy: FaultProxy, tiers: Path) -> None:
    """A subscription's admission (the budget's charge, the feed's reader) is a request's
    work: past the request deadline it gets an ``error`` message, as ``/graphql`` answers
    503, instead of holding the connection for as long as the rounds take."""
    settings = settings_for(proxy, tiers, redis_timeout=2.0, request_timeout=0.3)
    query = 'subscription { regimeChanges(symbols: ["BTC"]) { id } }'
    with TestClient(create_app(settings)) as client, connect(client) as ws:
        init(ws)
        proxy.slow(0.25)
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        time.sleep(1.5)  # every round answered by now, deadline or not
        ws.send_json({"type": "ping"})
        message = ws.receive_json()
        assert message["type"] == "error" and message["id"] == "1", message
        assert message["payload"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert ws.receive_json() == {"type": "pong"}
        proxy.slow(0)
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": query}})
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # admitted: no error before the pong
