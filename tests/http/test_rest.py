"""The original REST route: same loaders as GraphQL, 200 / 404 / 400 / 503."""

from __future__ import annotations

import time

import pytest
import redis
from starlette.testclient import TestClient

from argus import keys
from tests.conftest import gql
from tests.seed import full_symbol, regime_fields, write_symbol

BTC = "BINANCE:BTC-USDT"


def test_rest_body_follows_the_contract(api: TestClient, sync_redis: redis.Redis) -> None:
    computed = time.time() - 42
    write_symbol(sync_redis, BTC,
                 regimes={"1h": {"regime": "trending_up", "confidence": "0.82", "volatility": "0.61",
                                 "trend": "1.7", "model": "argus-regime/1", "computed_at": repr(computed)}},
                 novelty={"score": 0.93, "zscore": 2.4, "percentile": 0.97, "window": 500,
                          "computed_at": computed},
                 correlations={"BINANCE:ETH-USDT": {"coefficient": 0.91, "window": 500,
                                                     "computed_at": computed}})
    response = api.get("/api/intelligence/BTC-USD")
    assert response.status_code == 200
    body = response.json()
    age = body["regime"]["1h"].pop("age_seconds")
    assert 42 <= age < 60
    assert body["novelty"].pop("age_seconds") == age
    assert body == {
        "symbol": BTC, "input": "BTC-USD",
        "regime": {"1h": {"regime": "trending_up", "confidence": 0.82, "volatility": 0.61, "trend": 1.7,
                          "model": "argus-regime/1", "computed_at": computed, "stale": False}},
        "novelty": {"score": 0.93, "zscore": 2.4, "percentile": 0.97, "window": 500,
                    "computed_at": computed, "stale": False},
        "correlations": [{"symbol": "BINANCE:ETH-USDT", "coefficient": 0.91, "window": 500,
                          "computed_at": computed}],
    }


def test_a_slash_in_the_symbol_reaches_the_route(api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, BTC, [])
    response = api.get("/api/intelligence/BTC/USD")
    assert response.status_code == 200
    assert response.json()["input"] == "BTC/USD"


def test_missing_namespaces_are_null_with_200(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, "AAPL", regimes={"1d": regime_fields()})
    body = api.get("/api/intelligence/aapl").json()
    assert body["novelty"] is None and body["correlations"] is None
    assert list(body["regime"]) == ["1d"]


def test_unknown_symbol_is_404(api: TestClient) -> None:
    response = api.get("/api/intelligence/NOPE")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "NOT_FOUND", "message": "No intelligence for symbol 'NOPE'."}}


@pytest.mark.parametrize("raw", ["BTC*", "BTC%20USD", "A" * 41, "%7Bx%7D", "%00"])
def test_bad_symbol_is_400(api: TestClient, raw: str) -> None:
    response = api.get(f"/api/intelligence/{raw}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("Invalid symbol")


def test_rest_lists_the_twenty_strongest_correlations(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, correlations={f"P{i:02d}": {"coefficient": (i - 15) / 20} for i in range(31)})
    body = api.get("/api/intelligence/BTC").json()
    got = [(c["symbol"], c["coefficient"]) for c in body["correlations"]]
    assert len(got) == 20
    assert got[:3] == [("P00", -0.75), ("P30", 0.75), ("P01", -0.7)]


def test_rest_and_graphql_agree(api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, BTC, ["AAPL", "MSFT"])
    rest = api.get("/api/intelligence/btc").json()
    data = gql(api, '{ symbol(symbol: "btc") { symbol input regime { timeframe label confidence stale } '
                    'novelty { score window } correlations { partner { symbol } coefficient } } }')["data"]["symbol"]
    assert rest["symbol"] == data["symbol"] and rest["input"] == data["input"]
    assert list(rest["regime"]) == list(keys.TIMEFRAMES)
    assert [(tf, v["regime"], v["confidence"], v["stale"]) for tf, v in rest["regime"].items()] == [
        (keys.Timeframe[r["timeframe"]].value, r["label"], r["confidence"], r["stale"])
        for r in data["regime"]]
    assert (rest["novelty"]["score"], rest["novelty"]["window"]) == (data["novelty"]["score"], data["novelty"]["window"])
    assert [(c["symbol"], c["coefficient"]) for c in rest["correlations"]] == [
        (c["partner"]["symbol"], c["coefficient"]) for c in data["correlations"]]
