"""Request headers are bounded (ARGUS_MAX_HEADER_BYTES): past it, 431 with a clear body."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from argus.errors import ConfigurationError
from argus.http.app import create_app
from argus.http.middleware import HeaderLimitMiddleware
from argus.settings import Settings
from tests.live_server import live_server

QUERY = {"query": "{ __typename }"}


def test_headers_past_the_limit_answer_431_with_a_clear_body(api: TestClient) -> None:
    response = api.post("/graphql", json=QUERY, headers={"X-Big": "x" * 17_000})
    assert response.status_code == 431
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].endswith("at most 16384 are accepted (ARGUS_MAX_HEADER_BYTES).")
    rest = api.get("/api/intelligence/BTC", headers={"X-Big": "x" * 17_000})
    assert rest.status_code == 431
    assert rest.json()["error"]["code"] == "BAD_REQUEST"


def test_many_small_headers_count_together(api: TestClient) -> None:
    headers = {f"X-H{n}": "y" * 100 for n in range(200)}  # 200 headers of ~110 bytes
    assert api.post("/graphql", json=QUERY, headers=headers).status_code == 431


def test_headers_within_the_limit_are_served(api: TestClient) -> None:
    response = api.post("/graphql", json=QUERY, headers={"X-Big": "x" * 12_000})
    assert response.status_code == 200


def test_the_limit_is_a_setting(redis_url: str) -> None:
    settings = Settings.from_env({"ARGUS_MAX_HEADER_BYTES": "2048"}, redis_url=redis_url,
                                 anonymous_tier="internal")
    with TestClient(create_app(settings)) as client:
        assert client.post("/graphql", json=QUERY, headers={"X-Big": "x" * 1_500}).status_code == 200
        assert client.post("/graphql", json=QUERY, headers={"X-Big": "x" * 2_100}).status_code == 431
        # The request target counts, as in h11's and nginx's limits.
        assert client.get("/graphql", params={"query": "{ __typename }" + " " * 2_100}).status_code == 431


def test_a_limit_too_small_for_any_browser_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="ARGUS_MAX_HEADER_BYTES"):
        Settings.from_env({"ARGUS_MAX_HEADER_BYTES": "100"})
    with pytest.raises(ConfigurationError, match="max_bytes"):
        HeaderLimitMiddleware(create_app, max_bytes=10)  # type: ignore[arg-type]


def status_of_raw_request(base: str, header_bytes: int) -> int:
    url = urlsplit(base)
    head = (f"GET /healthz HTTP/1.1\r\nHost: {url.netloc}\r\nX-Big: ").encode()
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head)
        chunk = b"x" * 65_536
        sent = 0
        while sent < header_bytes:
            part = chunk[:header_bytes - sent]
            sock.sendall(part)
            sent += len(part)
        sock.sendall(b"\r\n\r\n")
        reply = sock.recv(4_096)
    return int(reply.split(b" ", 2)[1])


def test_a_10_mb_header_is_refused_by_the_real_server(redis_url: str) -> None:
    with live_server(redis_url, {"ARGUS_ANONYMOUS_TIER": "internal"}) as base:
        assert status_of_raw_request(base, 10 * 1024 * 1024) == 431
        assert status_of_raw_request(base, 8 * 1024) == 200
