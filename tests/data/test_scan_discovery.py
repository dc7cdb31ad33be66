"""Scan discovery for keyspaces written without an index (ARGUS_DISCOVERY=scan)."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio as aioredis
from starlette.testclient import TestClient

from argus import keys
from argus.data.store import Store
from argus.http.app import create_app
from argus.settings import Settings
from tests.conftest import gql
from tests.seed import full_symbol, write_symbol


def scan_app(redis_url: str, **overrides: object) -> TestClient:
    settings = Settings.from_env({}, redis_url=redis_url, anonymous_tier="internal",
                                 discovery="scan", **overrides)
    return TestClient(create_app(settings))


def test_scan_mode_answers_like_index_mode(redis_url: str, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", ["AAPL", "MSFT"])
    write_symbol(sync_redis, "AAPL", novelty={"score": 0.4})
    query = ('{ symbols(symbols: ["BTC", "AAPL", "NOPE"]) { symbol regime { timeframe } novelty { score } '
             'correlations { partner { symbol } coefficient } } }')
    with TestClient(create_app(Settings.from_env({}, redis_url=redis_url, anonymous_tier="internal"))) as c:
        indexed = gql(c, query)
    sync_redis.delete(*sync_redis.keys("idx:*"))
    with scan_app(redis_url) as c:
        scanned = gql(c, query)
    assert scanned == indexed
    assert scanned["data"]["symbols"][0]["correlations"][0]["partner"]["symbol"] == "AAPL"


def test_scan_mode_caps_symbols_per_request(redis_url: str) -> None:
    with scan_app(redis_url, scan_max_symbols=2) as c:
        body = gql(c, '{ symbols(symbols: ["A", "B", "C"]) { symbol } }')
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "at most 2 symbols" in body["errors"][0]["message"]


def test_glob_characters_never_widen_a_scan_pattern(redis_url: str, sync_redis: redis.Redis) -> None:
    # Symbols with glob characters cannot pass normalization; the store still escapes them.
    sync_redis.set("corr:{A*}:X", '{"coefficient": 0.5}')
    sync_redis.set("corr:{AB}:Y", '{"coefficient": 0.5}')
    sync_redis.set("corr:{A?}:Z", '{"coefficient": 0.5}')

    async def discover(symbol: str) -> tuple[str, ...]:
        client = aioredis.Redis.from_url(redis_url)
        store = Store(client, Settings.from_env({}, redis_url=redis_url, discovery="scan"))
        [index] = await store.discover([symbol])
        await client.aclose()
        return index.partners

    assert asyncio.run(discover("A*")) == ("X",)
    assert asyncio.run(discover("A?")) == ("Z",)
    assert asyncio.run(discover("A[B]")) == ()
    assert keys.corr_pattern("A*") == "corr:{A\\*}:*"
