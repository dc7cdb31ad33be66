"""GraphQL-over-HTTP requirements the graphql-http audit cannot see (its fetch always sends a
Content-Type) or leaves out: a POST without a Content-Type, and an Accept we cannot satisfy."""

from __future__ import annotations

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import strip_cost
from tests.seed import full_symbol

QUERY = '{ symbol(symbol: "BTC") { symbol } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"
BODY = b'{"query": "{ symbol(symbol: \\"BTC\\") { symbol } }"}'


def test_a_post_without_content_type_is_415(api: TestClient) -> None:
    response = api.post("/graphql", content=BODY)
    assert "content-type" not in response.request.headers
    assert response.status_code == 415
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "Unsupported content type ''" in error["message"]


@pytest.mark.parametrize("accept", ["text/plain", "text/html", "application/xml, image/*",
                                    "application/json;q=0", "application/graphql-response+json; q=0.0"])
def test_an_accept_naming_nothing_we_can_send_is_406(api: TestClient, accept: str) -> None:
    response = api.post("/graphql", json={"query": QUERY}, headers={"accept": accept})
    assert response.status_code == 406
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "Not acceptable" in error["message"]


def test_a_get_with_an_unacceptable_accept_is_406_too(api: TestClient) -> None:
    response = api.get("/graphql", params={"query": QUERY}, headers={"accept": "text/csv"})
    assert response.status_code == 406


@pytest.mark.parametrize("accept", ["", "*/*", "application/*", "application/json",
                                    "text/html;q=0.9, application/json;q=0.1",
                                    "application/graphql-response+json, application/json;q=0.9",
                                    "APPLICATION/JSON; charset=utf-8", "application/json;q=x"])
def test_an_accept_naming_a_json_type_is_answered(
        api: TestClient, sync_redis: redis.Redis, accept: str) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    response = api.post("/graphql", json={"query": QUERY}, headers={"accept": accept})
    assert response.status_code == 200
    assert strip_cost(response.json()) == {"data": {"symbol": {"symbol": "BINANCE:BTC-USDT"}}}


def test_graphiql_still_loads_for_a_browser_accept(api: TestClient) -> None:
    page = api.get("/graphql", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("accept", "media_type", "status"), [
    ("application/json, application/graphql-response+json;q=0.5", "application/json", 200),
    ("application/json;q=0.5, application/graphql-response+json", GRAPHQL_RESPONSE, 400),
    ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE, 400),
    ("*/*;q=0.8, application/graphql-response+json;q=0.9", GRAPHQL_RESPONSE, 400),
    ("application/graphql-response+json;q=0.1, */*", "application/json", 200),
])
def test_the_highest_weighted_accepted_media_type_is_used(
        api: TestClient, accept: str, media_type: str, status: int) -> None:
    response = api.post("/graphql", json={"query": "{ nope }"}, headers={"accept": accept})
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.status_code == status  # a validation failure: 200 as JSON, 400 as the other
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
def test_responses_name_their_encoding(api: TestClient, sync_redis: redis.Redis, accept: str) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    ok = api.post("/graphql", json={"query": QUERY}, headers={"accept": accept})
    refused = api.post("/graphql", content=b"{", headers={"accept": accept,
                                                            "content-type": "application/json"})
    assert (ok.status_code, refused.status_code) == (200, 400)
    for response in (ok, refused):
        assert response.headers["content-type"] == f"{accept}; charset=utf-8"
    rest = api.get("/api/intelligence/BTC")
    assert rest.headers["content-type"] == "application/json; charset=utf-8"
