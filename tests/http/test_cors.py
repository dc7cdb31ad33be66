"""CORS: browsers on ARGUS_CORS_ORIGINS may call /graphql and the REST route; nobody else."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from argus.errors import ConfigurationError
from argus.http.app import create_app
from argus.settings import Settings

ALLOWED = "https://dash.example.test"
REFUSED = "https://evil.example.test"
QUERY = '{ symbol(symbol: "BTC") { symbol } }'


def preflight(client: TestClient, path: str, origin: str) -> httpx.Response:
    response: httpx.Response = client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, x-api-key, content-type"})
    return response


@pytest.fixture
def cors(redis_url: str) -> Iterator[TestClient]:
    settings = Settings.from_env({"ARGUS_CORS_ORIGINS": f"{ALLOWED}, https://other.example.test:8443/"},
                                 redis_url=redis_url, universe_refresh=3_600.0)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("path", ["/graphql", "/api/intelligence/BTC/USD"])
def test_a_preflight_from_an_allowed_origin_allows_the_credential_headers(
        cors: TestClient, path: str) -> None:
    response = preflight(cors, path, ALLOWED)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-api-key", "content-type"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("path", ["/graphql", "/api/intelligence/BTC/USD"])
def test_a_preflight_from_a_refused_origin_is_refused(cors: TestClient, path: str) -> None:
    response = preflight(cors, path, REFUSED)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_an_allowed_origin_reads_the_answer_and_its_ratelimit_headers(cors: TestClient) -> None:
    response = cors.post("/graphql", json={"query": QUERY}, headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    # Every RateLimit header the budget sends is readable by the dashboard's script.
    sent = {h for h in response.headers if h.startswith("ratelimit-")}
    assert sent == {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"}
    assert {h.lower() for h in exposed} >= sent | {"retry-after"}
    assert "Origin" in response.headers["vary"] and "Authorization" in response.headers["vary"]
    other = cors.post("/graphql", json={"query": QUERY}, headers={"Origin": "https://other.example.test:8443"})
    assert other.headers["access-control-allow-origin"] == "https://other.example.test:8443"


def test_a_refused_origin_gets_no_cors_header(cors: TestClient) -> None:
    response = cors.post("/graphql", json={"query": QUERY}, headers={"Origin": REFUSED})
    assert "access-control-allow-origin" not in response.headers


def test_other_routes_stay_same_origin(cors: TestClient) -> None:
    assert preflight(cors, "/healthz", ALLOWED).status_code == 405
    assert "access-control-allow-origin" not in cors.get("/healthz", headers={"Origin": ALLOWED}).headers


def test_by_default_only_the_same_origin_may_call(api: TestClient) -> None:
    response = preflight(api, "/graphql", ALLOWED)
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers
    answered = api.post("/graphql", json={"query": QUERY}, headers={"Origin": ALLOWED})
    assert answered.status_code == 200
    assert "access-control-allow-origin" not in answered.headers


@pytest.mark.parametrize("origin", ["dash.example.test", "https://dash.example.test/app", "ftp://x.test",
                                    "https://", "https://a.test:port", "https://u@a.test"])
def test_a_cors_origin_that_is_not_an_origin_is_a_configuration_error(origin: str) -> None:
    with pytest.raises(ConfigurationError, match="ARGUS_CORS_ORIGINS"):
        Settings.from_env({"ARGUS_CORS_ORIGINS": origin})
