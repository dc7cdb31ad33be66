"""Cache-Control from per-field hints, capped by the tier; errors and internal never shared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from argus.http.app import create_app
from tests.seed import full_symbol
from tests.tokens import Issuer, bearer

REGIME = '{ symbol(symbol: "BTC") { regime { label } } }'
NOVELTY = '{ symbol(symbol: "BTC") { novelty { score } } }'
CORRELATIONS = '{ symbol(symbol: "BTC") { correlations { coefficient } } }'
NO_HINT = '{ symbol(symbol: "BTC") { symbol } }'
NESTED = '{ symbol(symbol: "BTC") { correlations { partner { novelty { score } } } } }'


@pytest.fixture
def issuer(tmp_path: Any) -> Issuer:
    return Issuer(tmp_path)


@pytest.fixture
def client(issuer: Issuer, redis_url: str, sync_redis: redis.Redis) -> Iterator[TestClient]:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", ["BINANCE:ETH-USDT"])
    full_symbol(sync_redis, "BINANCE:ETH-USDT", ["BINANCE:BTC-USDT"])
    with TestClient(create_app(issuer.settings(redis_url))) as c:
        yield c


def cache_control(client: TestClient, issuer: Issuer, tier: str, query: str) -> str:
    response = client.post("/graphql", json={"query": query}, headers=bearer(issuer.token(tier=tier)))
    assert response.headers["vary"] == "Accept, Authorization, X-API-Key"
    return str(response.headers["cache-control"])


@pytest.mark.parametrize(("tier", "query", "expected"), [
    ("anonymous", REGIME, "public, max-age=0, s-maxage=15"),
    ("free", REGIME, "public, max-age=0, s-maxage=30"),
    ("pro", REGIME, "public, max-age=0, s-maxage=60"),
    ("enterprise", REGIME, "public, max-age=0, s-maxage=60"),
    ("enterprise", NOVELTY, "public, max-age=0, s-maxage=120"),
    ("enterprise", CORRELATIONS, "public, max-age=0, s-maxage=120"),
    ("enterprise", NO_HINT, "public, max-age=0, s-maxage=120"),
    ("pro", NO_HINT, "public, max-age=0, s-maxage=60"),
    ("internal", REGIME, "private, no-store"),
    ("internal", NO_HINT, "private, no-store"),
])
def test_cache_control_per_tier(client: TestClient, issuer: Issuer, tier: str, query: str,
                                expected: str) -> None:
    assert cache_control(client, issuer, tier, query) == expected


def test_the_smallest_selected_hint_wins_nested_fields_included(
        client: TestClient, issuer: Issuer) -> None:
    both = '{ symbol(symbol: "BTC") { novelty { score } correlations { coefficient } } }'
    nested = '{ symbol(symbol: "BTC") { correlations { partner { regime { label } } } } }'
    assert cache_control(client, issuer, "enterprise", both) == "public, max-age=0, s-maxage=120"
    assert cache_control(client, issuer, "enterprise", nested) == "public, max-age=0, s-maxage=60"


def test_raw_hints_with_a_high_tier_cap(issuer: Issuer, redis_url: str, sync_redis: redis.Redis,
                                        tmp_path: Any) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", ["BINANCE:ETH-USDT"])
    full_symbol(sync_redis, "BINANCE:ETH-USDT", [])
    tiers = tmp_path / "tiers.toml"
    tiers.write_text("[pro]\ns_maxage = 3600\n")
    with TestClient(create_app(issuer.settings(redis_url, tiers_file=tiers))) as c:
        for query, seconds in [(REGIME, 60), (NOVELTY, 300), (CORRELATIONS, 900), (NESTED, 300),
                               (NO_HINT, 3600)]:
            assert cache_control(c, issuer, "pro", query) == f"public, max-age=0, s-maxage={seconds}"


def test_an_error_response_is_private_no_store(client: TestClient, issuer: Issuer) -> None:
    missing = '{ symbol(symbol: "NOPE") { regime { label } } }'
    assert cache_control(client, issuer, "pro", missing) == "private, no-store"
    bad = client.post("/graphql", json={"query": "{ nope }"})
    assert bad.headers["cache-control"] == "private, no-store"
    too_deep = client.post("/graphql", json={"query": NESTED.replace("novelty { score }",
                           "correlations { partner { symbol } }")})
    assert too_deep.status_code == 400
    assert too_deep.headers["cache-control"] == "private, no-store"


def test_shared_cacheable_responses_carry_only_the_requested_cost(
        client: TestClient, issuer: Issuer) -> None:
    shared = client.post("/graphql", json={"query": REGIME}, headers=bearer(issuer.token(tier="pro")))
    assert shared.json()["extensions"] == {"cost": {"requested": 2}}
    private = client.post("/graphql", json={"query": REGIME},
                          headers=bearer(issuer.token(tier="internal")))
    assert set(private.json()["extensions"]["cost"]) == {"requested", "remaining", "resetAt"}


def test_the_rest_route_gets_the_same_policy(client: TestClient, issuer: Issuer) -> None:
    pro = client.get("/api/intelligence/BTC", headers=bearer(issuer.token(tier="pro")))
    assert pro.headers["cache-control"] == "public, max-age=0, s-maxage=60"
    free = client.get("/api/intelligence/BTC", headers=bearer(issuer.token()))
    assert free.headers["cache-control"] == "public, max-age=0, s-maxage=30"
    internal = client.get("/api/intelligence/BTC", headers=bearer(issuer.token(tier="internal")))
    assert internal.headers["cache-control"] == "private, no-store"
    missing = client.get("/api/intelligence/NOPE", headers=bearer(issuer.token(tier="pro")))
    assert missing.status_code == 404
    assert missing.headers["cache-control"] == "private, no-store"
