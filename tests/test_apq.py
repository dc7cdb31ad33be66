"""Automatic Persisted Queries (Apollo's protocol) over GET and POST, stored in Redis."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from argus import keys
from argus.app import create_app
from tests.seed import full_symbol
from tests.tokens import Issuer, bearer

QUERY = '{ symbol(symbol: "BTC") { regime { label } } }'
SHA = hashlib.sha256(QUERY.encode()).hexdigest()


def extensions(sha: str = SHA, version: int = 1) -> str:
    return json.dumps({"persistedQuery": {"version": version, "sha256Hash": sha}})


@pytest.fixture
def issuer(tmp_path: Any) -> Issuer:
    return Issuer(tmp_path)


@pytest.fixture
def client(issuer: Issuer, redis_url: str, sync_redis: redis.Redis) -> Iterator[TestClient]:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    with TestClient(create_app(issuer.settings(redis_url))) as c:
        yield c


def test_get_by_hash_misses_then_registers_then_serves_cacheably(
        client: TestClient, issuer: Issuer, sync_redis: redis.Redis) -> None:
    headers = bearer(issuer.token(tier="pro"))
    miss = client.get("/graphql", params={"extensions": extensions()}, headers=headers)
    assert miss.status_code == 200
    assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert miss.headers["cache-control"] == "private, no-store"
    registered = client.get("/graphql", params={"query": QUERY, "extensions": extensions()},
                            headers=headers)
    assert registered.json()["data"]["symbol"]["regime"][0]["label"] == "trending_up"
    assert sync_redis.get(keys.persisted_query(SHA)) == QUERY
    assert 0 < sync_redis.ttl(keys.persisted_query(SHA)) <= 7 * 86_400
    hit = client.get("/graphql", params={"extensions": extensions()}, headers=headers)
    assert hit.status_code == 200
    assert hit.json()["data"] == registered.json()["data"]
    assert hit.headers["cache-control"] == "public, max-age=0, s-maxage=60"


def test_a_registered_hash_serves_another_instance(issuer: Issuer, redis_url: str,
                                                   sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    settings = issuer.settings(redis_url)
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        a.post("/graphql", json={"query": QUERY, "extensions": json.loads(extensions())})
        hit = b.post("/graphql", json={"extensions": json.loads(extensions())})
    assert "errors" not in hit.json()


def test_a_wrong_hash_is_refused(client: TestClient, sync_redis: redis.Redis) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    response = client.get("/graphql", params={"query": QUERY, "extensions": extensions(wrong)})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "provided sha does not match query"
    assert sync_redis.get(keys.persisted_query(wrong)) is None


@pytest.mark.parametrize("ext", [
    extensions(version=2), extensions("ABC"), json.dumps({"persistedQuery": "x"}),
])
def test_malformed_persisted_query_extensions_are_400(client: TestClient, ext: str) -> None:
    response = client.get("/graphql", params={"extensions": ext})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"

