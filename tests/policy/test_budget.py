"""Per-caller budgets in Redis: shared by instances, 429 past them, one round trip, none for internal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from starlette.testclient import TestClient

from argus.http.app import create_app
from argus.policy.budget import Budget, BudgetSpent
from argus.settings import Settings
from tests.redis_server import RedisServer
from tests.round_trip_proxy import RoundTripProxy
from tests.seed import full_symbol
from tests.tokens import Issuer, bearer

# Cost 41 (1 + 40 correlations); anonymous may spend 600 a minute: 14 requests, then 429.
COSTLY = '{ symbol(symbol: "BTC") { correlations(first: 40) { coefficient } } }'


@pytest.fixture
def issuer(tmp_path: Any) -> Issuer:
    return Issuer(tmp_path)


def served_before_429(clients: list[TestClient], headers: dict[str, str], limit: int = 100) -> int:
    for n in range(limit):
        response = clients[n % len(clients)].post("/graphql", json={"query": COSTLY},
                                                  headers=headers)
        if response.status_code == 429:
            return n
        assert response.status_code == 200
    raise AssertionError("never limited")


def test_two_instances_share_one_budget(issuer: Issuer, redis_url: str) -> None:
    settings = issuer.settings(redis_url)
    with TestClient(create_app(settings)) as one:
        alone = served_before_429([one], {})
    redis.Redis.from_url(redis_url).flushall()
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        together = served_before_429([a, b], {})
    assert alone == together == 600 // 41


def test_past_the_budget_is_429_with_retry_after_and_ratelimit_headers(
        issuer: Issuer, redis_url: str) -> None:
    with TestClient(create_app(issuer.settings(redis_url))) as client:
        served_before_429([client], {})
        response = client.post("/graphql", json={"query": COSTLY})
    assert response.status_code == 429
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= int(response.headers["retry-after"]) <= 5  # 41 points refill in 4.1 s
    assert response.headers["ratelimit-limit"] == "600"
    assert int(response.headers["ratelimit-remaining"]) < 41
    assert 55 <= int(response.headers["ratelimit-reset"]) <= 60


def test_budgets_are_per_caller(issuer: Issuer, redis_url: str) -> None:
    with TestClient(create_app(issuer.settings(redis_url))) as client:
        token = issuer.token(tier="anonymous", sub="alice")
        served_before_429([client], bearer(token))
        other = bearer(issuer.token(tier="anonymous", sub="bob"))
        assert client.post("/graphql", json={"query": COSTLY}, headers=other).status_code == 200


def test_every_budgeted_response_carries_ratelimit_headers(issuer: Issuer, redis_url: str) -> None:
    with TestClient(create_app(issuer.settings(redis_url))) as client:
        graphql = client.post("/graphql", json={"query": '{ symbol(symbol: "BTC") { symbol } }'})
        rest = client.get("/api/intelligence/BTC")
    for response in (graphql, rest):
        assert response.headers["ratelimit-limit"] == "600"
        assert response.headers["ratelimit-remaining"].isdigit()
        assert response.headers["ratelimit-reset"].isdigit()
    assert int(rest.headers["ratelimit-remaining"]) == 600 - 1 - 23  # REST costs 23


def test_redis_down_during_the_budget_check_is_503(issuer: Issuer) -> None:
    server = RedisServer().start()
    settings = issuer.settings(server.url)
    with TestClient(create_app(settings)) as client:
        server.stop()
        response = client.post("/graphql", json={"query": COSTLY})
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(settings.retry_after)


@pytest.fixture
def proxy(redis_server: RedisServer, redis_url: str) -> Iterator[RoundTripProxy]:
    full_symbol(redis.Redis.from_url(redis_url), "BINANCE:BTC-USDT", [])
    p = RoundTripProxy(redis_server.port).start()
    yield p
    p.stop()


def rounds(proxy: RoundTripProxy, client: TestClient, headers: dict[str, str]) -> int:
    query = '{ symbol(symbol: "BTC") { regime { label } } }'
    assert client.post("/graphql", json={"query": query}, headers=headers).status_code == 200
    proxy.reset()
    assert client.post("/graphql", json={"query": query}, headers=headers).status_code == 200
    return proxy.rounds


def test_internal_costs_no_extra_round_trip_and_budgets_one(
        issuer: Issuer, proxy: RoundTripProxy) -> None:
    with TestClient(create_app(issuer.settings(proxy.url))) as client:
        internal = rounds(proxy, client, bearer(issuer.token(tier="internal", sub="apex")))
        budgeted = rounds(proxy, client, bearer(issuer.token(tier="pro", sub="dash")))
    assert internal == 2
    assert budgeted == 3


def test_the_script_answers_any_cost_in_one_call(redis_url: str) -> None:
    async def main() -> list[Any]:
        client = aioredis.Redis.from_url(redis_url)
        budget = Budget(client, 5)
        now = time.time()
        big = await budget.charge("key:0123456789ab", 600, 599, now)
        try:
            await budget.charge("key:0123456789ab", 600, 2, now)
        except BudgetSpent as exc:
            spent: Any = exc
        await client.aclose()
        return [big, spent]

    big, spent = asyncio.run(main())
    assert big.remaining == 1
    assert spent.charge.remaining == 1 and spent.retry_after >= 1
    assert len(redis.Redis.from_url(redis_url).keys("argus:budget:*")) == 1


def test_the_anonymous_budget_is_keyed_by_client_address(redis_url: str, issuer: Issuer) -> None:
    settings: Settings = issuer.settings(redis_url)
    with TestClient(create_app(settings), client=("203.0.113.5", 50000)) as client:
        client.post("/graphql", json={"query": COSTLY})
    assert redis.Redis.from_url(redis_url).keys("argus:budget:*") == [b"argus:budget:ip:203.0.113.5"]
