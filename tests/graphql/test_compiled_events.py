"""Subscription events on the compiled path (``compiled.EventShape``) carry byte for byte what
graphql-core's execution of the same event gives.

Two apps on one real redis-server and one frozen clock, one with the compiled event path
switched off, each hold the same subscriptions over graphql-transport-ws; the same changes
are appended to ``argus:events`` once, and every message must be the same text on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from graphql import parse
from starlette.applications import Starlette
from starlette.testclient import TestClient

from argus import keys
from argus.graphql import compiled
from argus.graphql.compiled import EventRenderer
from argus.http.app import create_app
from argus.settings import Settings
from tests.graphql.test_compiled import BTC, ETH, frozen
from tests.http.test_subscriptions import CHANGES, connect, init, subscribed
from tests.seed import full_symbol, regime_fields, write_symbol

SYMBOLS = '["BTC", "ETH", "NODATA", "V2"]'
#: (document, variables); every one of them receives every change below.
CASES: list[tuple[str, dict[str, Any] | None]] = [
    (CHANGES, {"symbols": ["BTC", "eth", "NODATA", "V2"]}),
    (CHANGES, {"symbols": ["BTC", "ETH", "NODATA", "V2"], "timeframes": ["H1", "D1", "H4", "MN1"]}),
    (f"subscription {{ regimeChanges(symbols: {SYMBOLS}) {{ id }} }}", None),
    (f"subscription {{ regimeChanges(symbols: {SYMBOLS}) {{ __typename id label previous timeframe computedAt }} }}", None),
    (f"subscription S {{ r: regimeChanges(symbols: {SYMBOLS}) {{ i: id l: label s: symbol {{ symbol input __typename }} }} }}", None),
    (f"subscription {{ regimeChanges(symbols: {SYMBOLS}) {{ symbol {{ regime {{ timeframe label confidence "
     "volatility trend model computedAt ageSeconds stale drawdown efficiency varianceRatio __typename } } label } }", None),
    (f"subscription {{ regimeChanges(symbols: {SYMBOLS}) {{ symbol {{ regime(timeframes: [H1, MN1]) {{ label }} "
     "novelty { score zscore percentile window computedAt ageSeconds stale } "
     "correlations(first: 2) { coefficient window computedAt partner { symbol input __typename } } } } }", None),
    ("subscription($tf: [Timeframe!], $f: Int, $m: Float) { regimeChanges(symbols: " + SYMBOLS + ") "
     "{ symbol { regime(timeframes: $tf) { timeframe } correlations(first: $f, minAbs: $m) { coefficient } } } }",
     {"tf": ["H1", "M1"], "f": 1, "m": 0.5}),
    (f"subscription {{ regimeChanges(symbols: {SYMBOLS}) {{ symbol {{ regime(timeframes: []) {{ label }} "
     "correlations(first: -1) { coefficient } a: correlations(minAbs: 2) { coefficient } } } }", None),
    # Shapes graphql-core executes (fragments, directives, a second symbol): the same too.
    (f"subscription {{ regimeChanges(symbols: {SYMBOLS}) {{ ...C }} }} fragment C on RegimeChange {{ id }}", None),
    (f"subscription {{ regimeChanges(symbols: {SYMBOLS}) {{ id @include(if: true) label }} }}", None),
    (f"subscription {{ regimeChanges(symbols: {SYMBOLS}) {{ a: symbol {{ symbol }} b: symbol {{ regime {{ label }} }} }} }}", None),
]
BAD_ARGUMENT = 8  # the case whose argument the planner refuses
#: (symbol, timeframe, label, previous, computed_at) appended in this order.
CHANGES_APPENDED = [
    (BTC, "1h", "trending_up", "", "1795000000.5"),
    (ETH, "1d", "ranging", "volatile", "1795000001"),
    ("NODATA", "4h", "volatile", "", ""),
    ("V2", "1M", "trending_down", "ranging", "1794999999.25"),
    (BTC, "1h", "ranging", "trending_up", "1795000002"),
]


def app_of(settings: Settings, compile_events: bool) -> Starlette:
    app = create_app(settings, clock=frozen)
    app.state.engine.compile_events = compile_events
    return app


@pytest.fixture
def seeded(sync_redis: redis.Redis) -> redis.Redis:
    full_symbol(sync_redis, BTC, [ETH, "AAPL"], age=5.0)
    full_symbol(sync_redis, ETH, [BTC], age=500.0)
    write_symbol(sync_redis, "V2", regimes={
        "1d": regime_fields(model="argus-regime/2", drawdown="-0.125", efficiency="0.31",
                            variance_ratio="0.87"),
        "1M": regime_fields(model="argus-regime/2", drawdown="nan", efficiency="n/a")})
    return sync_redis


def messages(settings: Settings, client: redis.Redis, compile_events: bool,
             cases: list[tuple[str, dict[str, Any] | None]]) -> Iterator[dict[str, list[str]]]:
    app = app_of(settings, compile_events)
    with TestClient(app) as http, connect(http) as ws:
        init(ws)
        for n, (query, variables) in enumerate(cases):
            ws.send_json({"id": str(n), "type": "subscribe",
                          "payload": {"query": query, "variables": variables}})
        subscribed(app, len(cases))
        yield {}  # the caller appends the changes now
        got: dict[str, list[str]] = {str(n): [] for n in range(len(cases))}
        for _ in range(len(cases) * len(CHANGES_APPENDED)):
            text = ws.receive_text()
            got[json.loads(text)["id"]].append(text)
        yield got


def append(client: redis.Redis) -> None:
    for symbol, tf, label, previous, computed_at in CHANGES_APPENDED:
        client.xadd(keys.EVENTS, {"kind": "regime", "symbol": symbol, "tf": tf, "label": label,
                                  "previous": previous, "computed_at": computed_at})


def both_paths(settings: Settings, client: redis.Redis,
               cases: list[tuple[str, dict[str, Any] | None]]) -> tuple[dict[str, list[str]], ...]:
    served, reference = messages(settings, client, True, cases), messages(settings, client, False, cases)
    next(served), next(reference)
    append(client)
    return next(served), next(reference)


def test_every_event_carries_the_same_bytes_on_both_paths(settings: Settings, seeded: redis.Redis) -> None:
    served, reference = both_paths(settings, seeded, CASES)
    assert served == reference
    for n, texts in served.items():
        assert len(texts) == len(CHANGES_APPENDED)
        payloads = [json.loads(t)["payload"] for t in texts]
        if n == str(BAD_ARGUMENT):  # correlations(first: -1): the planner's refusal, per event
            assert {p["errors"][0]["extensions"]["code"] for p in payloads} == {"BAD_USER_INPUT"}
        else:
            assert not any("errors" in p for p in payloads), n
    # The data is there: a compiled event read its symbol's regimes through the loader.
    first = json.loads(served["5"][0])["payload"]["data"]["regimeChanges"]
    assert [r["timeframe"] for r in first["symbol"]["regime"]] == [tf.name for tf in keys.Timeframe]


def test_hot_subscription_shapes_are_compiled_and_the_rest_are_not(
        settings: Settings, seeded: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = [compiled.compile_event_shape(parse(q), None) for q, _ in CASES]
    assert [s is not None for s in shapes] == [True] * 9 + [False] * 3
    built: list[str] = []
    for name in ("now", "later"):
        real = getattr(EventRenderer, name)

        def spy(self: EventRenderer, change: Any, *rest: Any, real: Any = real) -> Any:
            built.append(change.id)
            return real(self, change, *rest)

        monkeypatch.setattr(EventRenderer, name, spy)
    both_paths(settings, seeded, CASES)
    # Served: the eight compiled shapes whose arguments bind (not ``first: -1``), every change.
    assert len(built) == 8 * len(CHANGES_APPENDED)


def test_a_compiled_event_whose_load_fails_is_executed_by_graphql_core(
        settings: Settings, seeded: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    failed: list[str] = []

    async def broken(self: EventRenderer, change: Any, context: Any) -> Any:
        failed.append(change.id)
        raise RuntimeError("the load failed")

    monkeypatch.setattr(EventRenderer, "later", broken)
    served, reference = both_paths(settings, seeded, CASES[:1])
    assert served == reference and len(failed) == len(CHANGES_APPENDED)
