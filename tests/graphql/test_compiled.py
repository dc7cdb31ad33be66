"""The compiled fast path (``argus.graphql.compiled``) answers byte for byte what graphql-core answers.

Every GraphQL document written in the test suite (string literals of ``tests/``), the
benchmark's hot shapes and a table of edge cases run through the app twice on the same
data and the same clock: once as served (compiled where the shape allows) and once with
the engine's compiler switched off (graphql-core). Unknown shapes must fall back.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from graphql import parse, validate
from graphql.execution.values import get_variable_values
from starlette.testclient import TestClient

from argus import keys
from argus.graphql import compiled
from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.compiled import Compiler
from argus.graphql.schema import schema
from argus.http.app import create_app
from argus.settings import Settings
from tests.queries import BATCH, FULL_ONE
from tests.redis_server import free_port
from tests.seed import full_symbol, regime_fields, write_symbol

NOW = 1_795_000_100.0
BTC, ETH, SOL = "BINANCE:BTC-USDT", "BINANCE:ETH-USDT", "BINANCE:SOL-USDT"

EDGE_CASES: list[tuple[str, dict[str, Any] | None]] = [
    (FULL_ONE, {"s": "btc"}),
    (FULL_ONE, {"s": "aapl"}),
    (FULL_ONE, {"s": "NOPE"}),
    (FULL_ONE, {"s": "bad symbol!"}),
    (BATCH, {"s": ["BTC", "eth/usd", "NOPE", "bad symbol!", "AAPL", "BTC", "ONLYNOV", "HALF"]}),
    (BATCH, {"s": []}),
    (BATCH, {"s": "BTC"}),  # a single value coerces to a list
    (BATCH, {"s": None}),  # a variable error: graphql-core reports it
    (BATCH, {"s": ["BTC", 1]}),
    (BATCH, {"s": ["BTC", None]}),
    (FULL_ONE, {"s": 5}),
    (FULL_ONE, {}),
    (FULL_ONE, {"s": "btc", "unused": 1}),
    ("query Q($s: String!, $f: Int) { symbol(symbol: $s) { correlations(first: $f) { coefficient } } }",
     {"s": "btc", "f": 1}),
    ("query Q($s: String!, $f: Int) { symbol(symbol: $s) { correlations(first: $f) { coefficient } } }",
     {"s": "btc", "f": -1}),
    ("query Q($s: String = \"BTC\") { symbol(symbol: $s) { symbol } }", None),
    ("query Q($s: [String]) { symbols(symbols: $s) { symbol } }", {"s": ["BTC", "ETH"]}),
    (BATCH, None),
    ('{ a: symbols(symbols: ["BTC", "AAPL"]) { s: symbol i: input __typename '
     "r: regime(timeframes: [MN1, M1, D1]) { __typename tf: timeframe label stale } "
     "n: novelty { score __typename } c: correlations(first: 1, minAbs: 0.1) "
     "{ __typename coefficient p: partner { __typename input symbol } window } } }", None),
    ('{ symbol(symbol: "BTC") { regime(timeframes: []) { label } correlations(first: null) { coefficient } } }', None),
    ('{ symbol(symbol: "BTC") { regime(timeframes: null) { label } correlations(minAbs: 0.95) { coefficient } } }', None),
    ('{ symbol(symbol: "BTC") { correlations(minAbs: 2) { coefficient } } }', None),
    ('{ symbol(symbol: "BTC") { correlations(first: -1) { coefficient } } }', None),
    ("query Q($tf: [Timeframe!], $f: Int, $m: Float) { symbol(symbol: \"BTC\") "
     "{ regime(timeframes: $tf) { timeframe } correlations(first: $f, minAbs: $m) { coefficient } } }",
     {"tf": ["H1", "M1"], "f": 2, "m": 0.5}),
    ('{ symbol(symbol: "ONLYNOV") { symbol regime { label } novelty { score zscore window } correlations { coefficient } } }', None),
    ('{ symbol(symbol: "HALF") { regime { label confidence volatility trend model computedAt ageSeconds stale } } }', None),
    ('{ symbol(symbol: "EXPIRED") { symbol regime { label } novelty { score } } }', None),
    ('{ symbol(symbol: "V2") { regime { timeframe label drawdown efficiency varianceRatio trend } } }', None),
    ('{ symbol(symbol: "BTC") { regime { drawdown varianceRatio } } }', None),
    ('{ symbol(symbol: "BTC") { correlations { a: partner { symbol } coefficient b: partner { input __typename } } } }', None),
    ('query A { symbol(symbol: "BTC") { symbol } } query B { symbols(symbols: ["ETH"]) { symbol } }', None),
]

# Shapes that must go to graphql-core.
FALLBACKS = [
    '{ symbol(symbol: "BTC") { ...F } } fragment F on Symbol { symbol }',
    '{ symbol(symbol: "BTC") { ... on Symbol { symbol } } }',
    '{ symbol(symbol: "BTC") { symbol @include(if: true) } }',
    '{ symbol(symbol: "BTC") { correlations { partner { regime { label } } } } }',
    '{ a: symbol(symbol: "BTC") { symbol } b: symbol(symbol: "ETH") { symbol } }',
    '{ symbol(symbol: "BTC") { symbol symbol } }',
    "{ __schema { queryType { name } } }",
]


def suite_documents() -> list[str]:
    """Every string literal under tests/ that is a valid document of the schema."""
    found: dict[str, None] = {}
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "{" in node.value:
                try:
                    document = parse(node.value)
                except Exception:
                    continue
                if not validate(graphql_schema(schema), document):
                    found[node.value] = None
    return list(found)


def frozen() -> float:
    """The app's clock here: ages are the same on both paths and in every run."""
    return NOW


@pytest.fixture
def app_client(settings: Settings, sync_redis: redis.Redis) -> Iterator[TestClient]:
    full_symbol(sync_redis, BTC, [ETH, "AAPL", SOL, "MSFT"], age=5.0)
    full_symbol(sync_redis, ETH, [BTC], age=500.0)
    full_symbol(sync_redis, "AAPL", [BTC, "MSFT"], age=100_000.0)
    write_symbol(sync_redis, "ONLYNOV", novelty={"score": 0.25, "window": 500})
    write_symbol(sync_redis, "HALF", regimes={"1h": regime_fields(confidence="n/a", trend=None,
                                                                   computed_at=None, label="odd_label"),
                                              "4h": {"confidence": "0.5"}})
    write_symbol(sync_redis, "EXPIRED", regimes={"1d": regime_fields()})
    write_symbol(sync_redis, "V2", regimes={
        "1d": regime_fields(model="argus-regime/2", drawdown="-0.125", efficiency="0.31",
                            variance_ratio="0.87"),
        "1w": regime_fields(model="argus-regime/2", drawdown="nan", efficiency="n/a")})
    sync_redis.delete(keys.regime("EXPIRED", "1d"))
    with TestClient(create_app(settings, clock=frozen)) as client:
        yield client


def both_paths(client: TestClient, monkeypatch: pytest.MonkeyPatch, query: str,
               variables: dict[str, Any] | None) -> tuple[Any, Any]:
    payload = {"query": query, "variables": variables}
    first = client.post("/graphql", json=payload)
    served = client.post("/graphql", json=payload)  # a shape's later requests reuse what it learnt
    assert_same(first, served)
    with monkeypatch.context() as m:
        async def off(*args: object) -> None:
            return None

        m.setattr(Compiler, "execute", off)
        reference = client.post("/graphql", json=payload)
    return served, reference


def assert_same(served: Any, reference: Any) -> None:
    assert served.status_code == reference.status_code
    assert served.headers.get("retry-after") == reference.headers.get("retry-after")
    assert served.content == reference.content


def test_every_query_of_the_suite_answers_the_same_bytes(app_client: TestClient,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    documents = suite_documents()
    assert len(documents) > 30  # the extraction found the suite's queries
    for query in documents:
        assert_same(*both_paths(app_client, monkeypatch, query, None))


@pytest.mark.parametrize(("query", "variables"), EDGE_CASES)
def test_edge_cases_answer_the_same_bytes(app_client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                          query: str, variables: dict[str, Any] | None) -> None:
    assert_same(*both_paths(app_client, monkeypatch, query, variables))


def test_hot_shapes_are_compiled(app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[bool] = []
    real = Compiler.execute

    async def spy(*args: Any) -> Any:
        result = await real(*args)
        ran.append(result is not None)
        return result

    monkeypatch.setattr(Compiler, "execute", spy)
    for query, variables in ((FULL_ONE, {"s": "BTC"}), (BATCH, {"s": ["BTC", "AAPL"]})):
        body = app_client.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in body
    assert ran == [True, True]


def test_a_hot_shape_coerces_its_variable_once(app_client: TestClient,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = get_variable_values  # what compiled imported, replaced below in compiled's namespace

    def counted(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(compiled, "get_variable_values", counted)
    for symbol in ("btc", "eth", "aapl"):
        assert "errors" not in app_client.post(
            "/graphql", json={"query": FULL_ONE, "variables": {"s": symbol}}).json()
    assert len(calls) == 1
    app_client.post("/graphql", json={"query": FULL_ONE, "variables": {"s": 5}})
    assert len(calls) == 2  # a value of another type goes to graphql-core, which reports it


@pytest.mark.parametrize("query", FALLBACKS)
def test_unknown_shapes_fall_back_to_graphql_core(app_client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                  query: str) -> None:
    assert compiled.compile_shape(parse(query), None) is None
    assert_same(*both_paths(app_client, monkeypatch, query, None))


def test_redis_down_answers_the_same_503(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env({}, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                                 anonymous_tier="internal", redis_timeout=0.2,
                                 redis_connect_timeout=0.2, universe_refresh=3_600.0)
    with TestClient(create_app(settings, clock=frozen)) as client:
        for query, variables in ((FULL_ONE, {"s": "BTC"}), (BATCH, {"s": ["BTC", "AAPL"]})):
            served, reference = both_paths(client, monkeypatch, query, variables)
            assert served.status_code == 503
            assert_same(served, reference)


def test_the_clock_is_frozen_for_parity() -> None:
    assert time.time() != NOW  # only the app's clock is fixed, by injection
