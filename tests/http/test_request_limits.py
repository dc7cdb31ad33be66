"""What a request may send: a bounded body (413 while reading), bounded JSON nesting (400).

The body tests run on a real socket (``argus serve``: uvicorn with httptools): a
``Content-Length`` that announces too much is refused before the body is sent, and a
chunked body is refused while it is still being sent.
"""

from __future__ import annotations

import http.client
import json
import logging
import select
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from argus.http.app import create_app
from argus.settings import Settings
from tests.live_server import live_server
from tests.seed import full_symbol

QUERY = '{ symbol(symbol: "BTC") { regime { label } } }'
FIFTY_MB = 50 * 1_000_000


@pytest.fixture
def server(redis_url: str, sync_redis: redis.Redis) -> Iterator[tuple[str, int]]:
    """``argus serve`` (uvicorn, httptools) as a process: ``(host, port)``."""
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    with live_server(redis_url, {"ARGUS_ANONYMOUS_TIER": "internal"}) as base:
        host, _, port = base.removeprefix("http://").partition(":")
        yield host, int(port)


def read_response(sock: socket.socket) -> bytes:
    """Whatever the server answers, until it has sent a whole body or closed."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65_536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and len(body) >= int(value):
                    return data


def test_a_content_length_past_the_limit_is_refused_413_before_the_body_is_sent(
        server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % FIFTY_MB)
        response = read_response(sock)  # not one byte of the body sent
    assert response.startswith(b"HTTP/1.1 413 ")
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert b"connection: close" in response.lower()


def test_a_chunked_body_past_the_limit_is_refused_413_while_it_is_sent(
        server: tuple[str, int]) -> None:
    chunk = b"x" * 65_536
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    sent = 0
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        sock.setblocking(False)
        response = b""
        while sent < FIFTY_MB:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break
            assert writable, "the server neither read nor answered for 10 s"
            try:
                sent += sock.send(framed)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        sock.settimeout(10)
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 413 "), response[:100]
    # The server stopped reading soon after the 1 MiB limit (the rest is socket buffers).
    assert sent < 16 * 1_048_576
    assert b"connection: close" in response.lower()


def test_a_body_within_the_limit_is_served_on_a_real_socket(server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        payload = json.dumps({"query": QUERY + " " * 900_000}).encode()
        connection.request("POST", "/graphql", body=payload,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["data"]["symbol"]["regime"][0]["label"] == "trending_up"
    finally:
        connection.close()


@pytest.fixture
def anonymous(redis_url: str, sync_redis: redis.Redis) -> Iterator[TestClient]:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    settings = Settings.from_env({}, redis_url=redis_url, universe_refresh=3_600.0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def small_body(redis_url: str, sync_redis: redis.Redis) -> Iterator[TestClient]:
    """Bodies limited to 50,000 bytes (httpx refuses URLs past 64 KiB itself)."""
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    settings = Settings.from_env({}, redis_url=redis_url, universe_refresh=3_600.0,
                                 max_body_bytes=50_000, max_header_bytes=100_000)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_a_query_over_the_token_limit_within_the_body_limit_stays_query_too_complex(
        anonymous: TestClient) -> None:
    query = "{ " + "symbol(symbol: \"BTC\") { symbol } " * 300 + "}"
    response = anonymous.post("/graphql", json={"query": query})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize("content_type", ["application/json", "application/graphql"])
def test_a_body_past_the_setting_is_413_bad_request(small_body: TestClient,
                                                   content_type: str) -> None:
    response = small_body.post("/graphql", content=b" " * 50_001,
                               headers={"Content-Type": content_type})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert small_body.post("/graphql", json={"query": QUERY}).status_code == 200


def test_a_query_string_past_the_body_limit_is_414(small_body: TestClient) -> None:
    response = small_body.get("/graphql", params={"query": QUERY + " " * 55_000})
    assert response.status_code == 414
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def nested_json(depth: int) -> str:
    """``[[…[1]…]]``, ``depth`` deep, as text (the json module recurses past ~990)."""
    return "[" * depth + "1" + "]" * depth


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


DECLARED = "query($x: [Int]) { symbol(symbol: \"BTC\") { symbol } }"


@pytest.mark.parametrize("depth", [65, 300, 1_000, 1_100])  # 1,100: past orjson's 1,024
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("query", [QUERY, DECLARED])
def test_deeply_nested_variables_are_400_with_one_log_line(
        anonymous: TestClient, caplog: pytest.LogCaptureFixture, depth: int, method: str,
        query: str) -> None:
    variables = '{"x": ' + nested_json(depth) + "}"
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    if method == "GET":
        response = anonymous.get("/graphql", params={"query": query, "variables": variables})
    else:
        response = anonymous.post("/graphql", content=f'{{"query": {json.dumps(query)}, '
                                  f'"variables": {variables}}}',
                                  headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    logged = [r for r in caplog.records if r.name.startswith("argus")]
    assert len(logged) == 1 and logged[0].exc_info is None
    assert "\n" not in logged[0].getMessage()


def test_nested_extensions_are_refused_too(anonymous: TestClient) -> None:
    response = anonymous.post("/graphql", json={"query": QUERY, "extensions": {"x": nested(100)}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_variables_nested_64_deep_are_still_served(anonymous: TestClient) -> None:
    response = anonymous.post("/graphql", json={"query": DECLARED, "variables": {"x": nested(63)}})
    assert response.status_code == 200


def test_deep_variables_leave_the_connection_open_for_the_next_request(
        server: tuple[str, int]) -> None:
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        payload = (f'{{"query": {json.dumps(QUERY)}, "variables": {{"x": '
                   f"{nested_json(1_000)}}}}}")
        connection.request("POST", "/graphql", body=payload,
                           headers={"Content-Type": "application/json"})
        refused = connection.getresponse()
        refused.read()
        assert refused.status == 400
        assert refused.getheader("connection") is None
        connection.request("POST", "/graphql", body=json.dumps({"query": QUERY}),
                           headers={"Content-Type": "application/json"})
        served = connection.getresponse()  # the same socket: http.client would raise if closed
        assert served.status == 200
        assert json.loads(served.read())["data"]["symbol"]["regime"][0]["label"] == "trending_up"
    finally:
        connection.close()
