"""argus-regime/2's extra hash fields (docs/contract/clarifications.md §17): numbers in REST and GraphQL."""

from __future__ import annotations

from typing import Any

import redis
from starlette.testclient import TestClient

from tests.conftest import gql
from tests.seed import regime_fields, write_symbol

# Any, as regime_fields(**extra) takes them: a str-valued dict could fill its float ``age``.
V2: dict[str, Any] = {"model": "argus-regime/2", "drawdown": "-0.125", "efficiency": "0.31",
                      "variance_ratio": "0.87"}


def test_rest_serves_the_new_fields_as_numbers(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, "AAPL", regimes={"1d": regime_fields(**V2),
                                              "1h": regime_fields()})
    body = api.get("/api/intelligence/AAPL").json()
    daily = body["regime"]["1d"]
    assert (daily["drawdown"], daily["efficiency"], daily["variance_ratio"]) == (-0.125, 0.31, 0.87)
    assert daily["model"] == "argus-regime/2"
    # A v1 hash has none of them: the body does not invent them.
    assert "drawdown" not in body["regime"]["1h"]


def test_graphql_serves_the_new_fields_and_null_when_absent_or_bad(
        api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, "AAPL", regimes={"1d": regime_fields(**V2),
                                              "1w": regime_fields(drawdown="nan")})
    body = gql(api, '{ symbol(symbol: "AAPL") { regime(timeframes: [D1, W1]) '
                    '{ timeframe drawdown efficiency varianceRatio } } }')
    assert body["data"]["symbol"]["regime"] == [
        {"timeframe": "D1", "drawdown": -0.125, "efficiency": 0.31, "varianceRatio": 0.87},
        {"timeframe": "W1", "drawdown": None, "efficiency": None, "varianceRatio": None},
    ]
