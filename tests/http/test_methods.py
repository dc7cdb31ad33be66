"""HTTP methods: GET runs only queries (405 otherwise), HEAD is GET without the body."""

from __future__ import annotations

import pytest
import redis
from starlette.testclient import TestClient

from tests.seed import full_symbol

GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
@pytest.mark.parametrize("document", [
    "mutation { setRegime(symbol: \"BTC\") }",
    "subscription { regimeChanges { symbol } }",
    "query Q { __typename } mutation M { x }",
])
def test_a_get_mutation_or_subscription_is_405_with_allow_post(
        api: TestClient, document: str, accept: str) -> None:
    # The schema has no Mutation or Subscription type: the operation type decides, not validation.
    params = {"query": document, **({"operationName": "M"} if "M {" in document else {})}
    response = api.get("/graphql", params=params, headers={"accept": accept})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_the_same_mutation_posted_is_a_validation_error_not_405(api: TestClient) -> None:
    response = api.post("/graphql", json={"query": "mutation { x }"})
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_a_get_query_beside_a_mutation_runs(api: TestClient) -> None:
    response = api.get("/graphql", params={"query": "query Q { __typename } mutation M { x }",
                                           "operationName": "Q"})
    assert response.status_code != 405


@pytest.mark.parametrize("path", [
    "/graphql?query=%7B%20symbol(symbol%3A%20%22btc%22)%20%7B%20symbol%20%7D%20%7D",
    "/api/intelligence/BTC",
    "/healthz",
    "/readyz",
])
def test_head_answers_like_get(api: TestClient, sync_redis: redis.Redis, path: str) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    got, head = api.get(path), api.head(path)
    assert got.status_code == 200
    assert head.status_code == got.status_code
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers.get("cache-control") == got.headers.get("cache-control")
