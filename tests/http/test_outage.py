"""Redis outages: 503 with Retry-After within a bounded time, and recovery without restart."""

from __future__ import annotations

import time

import redis
from starlette.testclient import TestClient

from argus.http.app import create_app
from argus.settings import Settings
from tests.redis_server import RedisServer
from tests.seed import full_symbol

QUERY = '{ symbol(symbol: "BTC") { symbol regime { label } } }'


def test_redis_killed_mid_run_is_503_then_recovers_without_restarting_the_app() -> None:
    server = RedisServer().start()
    settings = Settings.from_env({}, redis_url=server.url, anonymous_tier="internal",
                                 redis_connect_timeout=0.2, redis_timeout=0.3, retry_after=7)
    try:
        full_symbol(redis.Redis.from_url(server.url), "BINANCE:BTC-USDT", [])
        with TestClient(create_app(settings)) as client:
            assert client.post("/graphql", json={"query": QUERY}).status_code == 200
            assert client.get("/readyz").status_code == 200

            server.kill()
            started = time.monotonic()
            down = client.post("/graphql", json={"query": QUERY})
            elapsed = time.monotonic() - started
            assert down.status_code == 503
            assert down.headers["retry-after"] == "7"
            assert down.headers["cache-control"] == "private, no-store"
            assert down.json() == {"errors": [{
                "message": "The intelligence store is unavailable. Retry shortly.",
                "extensions": {"code": "SERVICE_UNAVAILABLE"}}]}
            assert elapsed < 2.0  # bounded by the connect/command timeouts
            rest = client.get("/api/intelligence/BTC")
            assert rest.status_code == 503
            assert rest.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert rest.headers["retry-after"] == "7"
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200

            server.start()  # same port, empty data
            full_symbol(redis.Redis.from_url(server.url), "BINANCE:BTC-USDT", [])
            assert client.get("/readyz").status_code == 200
            again = client.post("/graphql", json={"query": QUERY})
            assert again.status_code == 200
            assert again.json()["data"]["symbol"]["symbol"] == "BINANCE:BTC-USDT"
    finally:
        server.stop()


def test_an_unreachable_redis_at_start_up_is_503_not_a_crash() -> None:
    server = RedisServer()  # never started: nothing listens on its port
    settings = Settings.from_env({}, redis_url=server.url, anonymous_tier="internal",
                                 redis_connect_timeout=0.2, redis_timeout=0.3)
    with TestClient(create_app(settings)) as client:
        response = client.post("/graphql", json={"query": QUERY})
        assert response.status_code == 503
        assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert client.get("/readyz").status_code == 503


def test_a_redis_that_stops_answering_times_out_into_503() -> None:
    server = RedisServer().start()
    settings = Settings.from_env({}, redis_url=server.url, anonymous_tier="internal",
                                 redis_connect_timeout=0.2, redis_timeout=0.3)
    try:
        with TestClient(create_app(settings)) as client:
            full_symbol(redis.Redis.from_url(server.url), "BINANCE:BTC-USDT", [])
            assert client.post("/graphql", json={"query": QUERY}).status_code == 200
            assert server.process is not None
            server.process.send_signal(19)  # SIGSTOP: connections stay open, nothing answers
            try:
                # The open connection's round times out (0.3 s), the retry's reconnect
                # handshake too (twice: redis-py retries its own connect): about 0.9 s.
                started = time.monotonic()
                response = client.post("/graphql", json={"query": QUERY})
                assert response.status_code == 503
                assert time.monotonic() - started < 1.3
                # Later requests only try to connect (about 0.6 s), never a second retry.
                started = time.monotonic()
                assert client.post("/graphql", json={"query": QUERY}).status_code == 503
                assert time.monotonic() - started < 0.9
            finally:
                server.process.send_signal(18)  # SIGCONT
            assert client.post("/graphql", json={"query": QUERY}).status_code == 200
    finally:
        server.stop()
