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
from argus.http.app import create_app
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


def test_a_miss_is_404_under_graphql_response_json_and_200_under_json(
        client: TestClient, issuer: Issuer) -> None:
    headers = bearer(issuer.token(tier="pro"))
    strict = client.get("/graphql", params={"extensions": extensions()},
                        headers={**headers, "Accept": "application/graphql-response+json"})
    assert strict.status_code == 404
    assert strict.headers["content-type"].startswith("application/graphql-response+json")
    assert strict.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "data" not in strict.json()
    legacy = client.get("/graphql", params={"extensions": extensions()},
                        headers={**headers, "Accept": "application/json"})
    assert legacy.status_code == 200
    assert legacy.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


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



def register(client: TestClient, query: str, **headers: str) -> Any:
    sha = hashlib.sha256(query.encode()).hexdigest()
    return client.post("/graphql", headers=headers, json={
        "query": query, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}})


def stored(sync_redis: redis.Redis, query: str) -> bool:
    return sync_redis.exists(keys.persisted_query(hashlib.sha256(query.encode()).hexdigest())) == 1


@pytest.mark.parametrize(("text", "code"), [
    ("x" * 1_000, "GRAPHQL_PARSE_FAILED"),
    ("{ nope { label } }", "GRAPHQL_VALIDATION_FAILED"),
    # Depth 5 for the anonymous tier (4).
    ('{ symbol(symbol: "BTC") { correlations { partner { correlations { partner { symbol } } } } } }',
     "QUERY_TOO_COMPLEX"),
])
def test_a_text_that_fails_to_parse_validate_or_pass_the_tier_is_not_stored(
        client: TestClient, sync_redis: redis.Redis, text: str, code: str) -> None:
    response = register(client, text)
    assert response.json()["errors"][0]["extensions"]["code"] == code
    assert not stored(sync_redis, text)
    assert sync_redis.keys("argus:apq:*") == []


def test_a_text_over_the_budget_is_not_stored(issuer: Issuer, redis_url: str, tmp_path: Any,
                                              sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    tiers = tmp_path / "tiers.toml"
    tiers.write_text("[anonymous]\nbudget = 3\nmax_cost = 3\n")
    with TestClient(create_app(issuer.settings(redis_url, tiers_file=tiers))) as client:
        first = register(client, QUERY)  # cost 2 of 3
        assert "errors" not in first.json()
        again = '{ symbol(symbol: "ETH") { regime { label } } }'
        refused = register(client, again)
    assert refused.status_code == 429
    assert stored(sync_redis, QUERY) and not stored(sync_redis, again)


def test_a_text_over_the_size_cap_is_refused_and_not_stored(
        issuer: Issuer, redis_url: str, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    text = QUERY + " " * 2_000
    with TestClient(create_app(issuer.settings(redis_url, apq_max_bytes=2_000))) as client:
        response = register(client, text)
        assert register(client, QUERY).status_code == 200
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert response.json()["errors"][0]["message"] == "A persisted query may be at most 2000 bytes."
    assert not stored(sync_redis, text) and stored(sync_redis, QUERY)


def test_registration_is_charged_once_as_the_first_execution(
        client: TestClient, sync_redis: redis.Redis) -> None:
    registered = register(client, QUERY)
    assert registered.json()["extensions"]["cost"]["requested"] == 2
    first = int(registered.headers["ratelimit-remaining"])
    hit = client.post("/graphql", json={"extensions": json.loads(extensions())})
    assert "errors" not in hit.json()
    assert int(hit.headers["ratelimit-remaining"]) == first - 2
    assert first == 600 - 2  # the anonymous budget, charged once for the registration
