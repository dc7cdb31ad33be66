"""GraphQL over HTTP: methods, media types, malformed requests, GraphiQL, health."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import strip_cost
from tests.seed import full_symbol

QUERY = '{ symbol(symbol: "BTC") { symbol } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"


def test_get_runs_a_query(api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    response = api.get("/graphql", params={"query": "query Q($s: String!) { symbol(symbol: $s) { symbol } }",
                                            "variables": '{"s": "btc"}', "operationName": "Q"})
    assert response.status_code == 200
    assert strip_cost(response.json()) == {"data": {"symbol": {"symbol": "BINANCE:BTC-USDT"}}}


def test_application_graphql_bodies_are_accepted(api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    response = api.post("/graphql", content=QUERY, headers={"content-type": "application/graphql"})
    assert strip_cost(response.json()) == {"data": {"symbol": {"symbol": "BINANCE:BTC-USDT"}}}


def test_graphql_response_media_type_is_used_when_accepted(api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    response = api.post("/graphql", json={"query": QUERY}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)


@pytest.mark.parametrize(
    ("query", "code"),
    [("{ symbol(symbol: ", "GRAPHQL_PARSE_FAILED"), ("{ nope }", "GRAPHQL_VALIDATION_FAILED")],
)
def test_invalid_documents_are_200_as_json_and_400_as_graphql_response(
        api: TestClient, query: str, code: str) -> None:
    legacy = api.post("/graphql", json={"query": query})
    assert legacy.status_code == 200
    assert legacy.json()["errors"][0]["extensions"]["code"] == code
    modern = api.post("/graphql", json={"query": query}, headers={"accept": GRAPHQL_RESPONSE})
    assert modern.status_code == 400
    assert modern.json()["errors"][0]["extensions"]["code"] == code


def test_missing_variables_are_400_as_graphql_response(api: TestClient) -> None:
    response = api.post("/graphql", json={"query": "query Q($s: String!) { symbol(symbol: $s) { symbol } }"},
                        headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"json": [{"query": QUERY}]}, 400, "Batched requests"),
        ({"json": "query"}, 400, "must be a JSON object"),
        ({"json": {}}, 400, "Missing 'query'"),
        ({"json": {"query": 5}}, 400, "'query' must be a string"),
        ({"json": {"query": QUERY, "variables": [1]}}, 400, "'variables' must be a JSON object"),
        ({"json": {"query": QUERY, "operationName": 3}}, 400, "'operationName' must be a string"),
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "Unsupported content type"),
    ],
)
def test_malformed_requests_get_a_clear_error_never_a_500(
        api: TestClient, kwargs: dict[str, Any], status: int, message: str) -> None:
    response = api.post("/graphql", **kwargs)
    assert response.status_code == status
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert message in error["message"]


def test_bad_variables_json_in_a_get_is_400(api: TestClient) -> None:
    response = api.get("/graphql", params={"query": QUERY, "variables": "{"})
    assert response.status_code == 400


def test_graphiql_is_served_with_local_assets_only(api: TestClient) -> None:
    page = api.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/graphiql/") for s in sources)
    for source in sources:
        asset = api.get(source)
        assert asset.status_code == 200 and len(asset.content) > 1_000


def test_health_and_readiness(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready", "redis": "ok"}


def test_unexpected_resolver_errors_are_masked(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from argus.graphql import selection

    def boom(*args: object) -> None:
        raise RuntimeError("secret stack detail")

    # Planning runs in the root resolver on both paths (compiled and graphql-core).
    monkeypatch.setattr(selection._Planner, "plan", boom)
    response = api.post("/graphql", json={"query": QUERY})
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error == {"message": "Internal server error.", "locations": [{"line": 1, "column": 3}],
                     "path": ["symbol"], "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    assert "secret" not in response.text
