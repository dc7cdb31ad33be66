"""Connections: idle and trickling sockets are closed, work past the cap is shed with 503.

The socket tests run a real ``argus serve`` process with short timeouts and check what the
sockets see (EOF, bytes), never how long anything took.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from starlette.testclient import TestClient
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from argus.http.app import create_app
from argus.http.capacity import CapacityMiddleware
from argus.http.server import ArgusConfig, HeaderTimeoutProtocol
from argus.settings import Settings
from tests.processes import running, wait_until_healthy
from tests.redis_server import RedisServer, free_port
from tests.round_trip_proxy import RoundTripProxy
from tests.seed import full_symbol

SYMBOL_QUERY = "/graphql?query=%7B%20symbol(symbol%3A%20%22btc%22)%20%7B%20symbol%20%7D%20%7D"


@pytest.fixture
def served(redis_url: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "ARGUS_REDIS_URL": redis_url, "ARGUS_ANONYMOUS_TIER": "internal",
           "ARGUS_HEADER_TIMEOUT": "1", "ARGUS_KEEP_ALIVE_TIMEOUT": "1"}
    with running([sys.executable, "-m", "argus", "serve", "--port", str(port)], env=env,
                 stdin=subprocess.DEVNULL) as process:
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        yield "127.0.0.1", port


def until_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (30 s without a byte fails)."""
    sock.settimeout(30)
    received = bytearray()
    while chunk := sock.recv(65536):
        received += chunk
    return bytes(received)


def test_300_idle_sockets_leave_requests_answered_and_are_closed(served: tuple[str, int]) -> None:
    idle = [socket.create_connection(served) for _ in range(300)]
    try:
        response = httpx.get(f"http://{served[0]}:{served[1]}/healthz")
        assert response.status_code == 200
        # Each idle socket is closed by the server (EOF, no bytes), not held forever.
        assert [until_eof(sock) for sock in idle] == [b""] * 300
    finally:
        for sock in idle:
            sock.close()


def test_headers_sent_a_byte_at_a_time_are_cut_off(served: tuple[str, int]) -> None:
    with socket.create_connection(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: argus\r\n")
        sock.settimeout(0.2)
        closed = False
        for _ in range(300):  # a header byte every 0.2 s would keep it open forever
            try:
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                try:
                    sock.sendall(b"X")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
        assert closed


def test_a_kept_alive_connection_is_closed_when_idle(served: tuple[str, int]) -> None:
    with socket.create_connection(served) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: argus\r\n\r\n")
        answer = until_eof(sock)
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b'{"status":"ok"}')


def test_head_graphql_sends_get_headers_and_no_body(served: tuple[str, int],
                                                    sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    get = httpx.get(f"http://{served[0]}:{served[1]}{SYMBOL_QUERY}")
    assert get.status_code == 200
    with socket.create_connection(served) as sock:
        sock.sendall(f"HEAD {SYMBOL_QUERY} HTTP/1.1\r\nHost: argus\r\n\r\n".encode())
        answer = until_eof(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert f"content-length: {len(get.content)}".encode() in head.lower()
    assert body == b""


# --- the in-flight caps --------------------------------------------------------------------

class Held:
    """An ASGI app whose requests wait until released, so a test knows what is in flight."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


async def _burst(app: Any, held: Held, requests: list[tuple[str, dict[str, str]]],
                 in_flight: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://argus") as client:
        tasks = [asyncio.create_task(client.get(path, headers=headers)) for path, headers in requests]
        shed = len(tasks) - in_flight
        # Polling counters the test owns: until the held ones are in and the rest answered.
        while held.entered < in_flight or sum(t.done() for t in tasks) < shed:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        held.release.set()
        return list(await asyncio.gather(*tasks))


async def test_requests_past_the_cap_are_shed_with_503_and_retry_after() -> None:
    held = Held()
    app = CapacityMiddleware(held, max_requests=2, max_streams=5, retry_after=7)
    no_headers: dict[str, str] = {}
    responses = await _burst(app, held, [("/graphql", no_headers)] * 3 + [("/api/intelligence/BTC", {})], 2)
    assert [r.status_code for r in responses] == [200, 200, 503, 503]
    graphql, rest = responses[2], responses[3]
    assert graphql.headers["retry-after"] == "7"
    assert graphql.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert rest.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert app.requests == 0  # every finished request left the count


async def test_streams_have_a_cap_of_their_own() -> None:
    held = Held()
    app = CapacityMiddleware(held, max_requests=1, max_streams=2, retry_after=5)
    sse = ("/graphql", {"accept": "text/event-stream"})
    responses = await _burst(app, held, [("/graphql", {}), sse, sse, sse, ("/graphql", {})], 3)
    # The full request cap leaves streams admitted; the third stream is shed, not a request.
    assert [r.status_code for r in responses] == [200, 200, 200, 503, 503]
    assert app.streams == 0


def capacity_of(app: Any) -> CapacityMiddleware | None:
    layer = app.middleware_stack
    while layer is not None and not isinstance(layer, CapacityMiddleware):
        layer = getattr(layer, "app", None)
    return layer


def test_the_app_sheds_past_argus_max_concurrent_requests(redis_server: RedisServer,
                                                          sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    proxy = RoundTripProxy(redis_server.port, quiet=2.0).start()  # every Redis round waits 2 s
    try:
        settings = Settings.from_env({}, redis_url=proxy.url, anonymous_tier="internal",
                                     redis_timeout=30.0, redis_connect_timeout=30.0,
                                     max_concurrent_requests=1, universe_refresh=3_600.0)
        app = create_app(settings)
        app.middleware_stack = app.build_middleware_stack()
        capacity = capacity_of(app)
        assert capacity is not None, "create_app installs no CapacityMiddleware"

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://argus") as client:
                first = asyncio.create_task(client.get(SYMBOL_QUERY))
                while capacity.requests < 1:  # noqa: ASYNC110 (a counter, not an event)
                    await asyncio.sleep(0.01)  # until it waits on Redis, holding the one place
                second = await client.get(SYMBOL_QUERY)
                return [await first, second]

        first, second = asyncio.run(burst())
        assert first.status_code == 200
        assert second.status_code == 503
        assert second.headers["retry-after"] == str(settings.retry_after)
        assert second.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        proxy.stop()


def test_a_normal_request_is_not_counted_after_it_ends(settings: Settings) -> None:
    with TestClient(create_app(settings.with_(max_concurrent_requests=1))) as client:
        assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5


def test_uvicorn_internals_the_header_timeout_relies_on() -> None:
    # Canary: argus.http.server overrides these parser callbacks of uvicorn's httptools protocol
    # (pyproject pins uvicorn below the next minor); fail loudly if they move.
    for name in ("connection_made", "connection_lost", "data_received", "on_message_begin",
                 "on_headers_complete"):
        assert callable(getattr(HttpToolsProtocol, name)), name
    # The head's size is read from what on_message_begin/on_url/on_header keep, and the 431
    # is written with uvicorn's status line and default headers.
    source = inspect.getsource(HttpToolsProtocol)
    for attribute in ("self.url", "self.headers", "self.server_state.default_headers"):
        assert attribute in source, attribute
    assert STATUS_LINE[431].startswith(b"HTTP/1.1 431 ")
    assert issubclass(HeaderTimeoutProtocol, HttpToolsProtocol)
    config = ArgusConfig("argus.http.asgi:app", header_timeout=3.0, http=HeaderTimeoutProtocol)
    assert isinstance(config, uvicorn.Config)
    assert config.http is HeaderTimeoutProtocol and config.header_timeout == 3.0
