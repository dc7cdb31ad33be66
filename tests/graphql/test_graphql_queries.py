"""Every Query of docs/contract/api.md against a real Redis: exact answers, partial data, errors."""

from __future__ import annotations

import time

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from starlette.testclient import TestClient

from argus import keys
from argus.http.app import create_app
from argus.settings import Settings
from tests.conftest import gql, strip_cost
from tests.seed import full_symbol, regime_fields, write_symbol

BTC = "BINANCE:BTC-USDT"
ETH = "BINANCE:ETH-USDT"


def test_full_selection_answers_every_field_exactly(api: TestClient, sync_redis: redis.Redis) -> None:
    computed = time.time() - 42
    write_symbol(
        sync_redis, BTC,
        regimes={"1h": {"regime": "trending_up", "confidence": "0.82", "volatility": "0.61",
                        "trend": "1.7", "model": "argus-regime/1", "computed_at": repr(computed)}},
        novelty={"score": 0.93, "zscore": 2.4, "percentile": 0.97, "window": 500,
                 "computed_at": computed},
        correlations={ETH: {"coefficient": 0.91, "window": 500, "computed_at": computed}},
    )
    body = gql(api, """{ symbol(symbol: "BTC-USD") { symbol input
        regime { timeframe label confidence volatility trend model computedAt ageSeconds stale }
        novelty { score zscore percentile window computedAt ageSeconds stale }
        correlations { partner { symbol input } coefficient window computedAt } } }""")
    assert "errors" not in body
    symbol = body["data"]["symbol"]
    assert symbol["symbol"] == BTC and symbol["input"] == "BTC-USD"
    [regime] = symbol["regime"]
    assert regime["timeframe"] == "H1" and regime["label"] == "trending_up"
    assert (regime["confidence"], regime["volatility"], regime["trend"]) == (0.82, 0.61, 1.7)
    assert regime["model"] == "argus-regime/1" and regime["stale"] is False
    assert 42 <= regime["ageSeconds"] < 60
    assert regime["computedAt"].endswith("+00:00")
    assert abs(time.time() - 42 - _epoch(regime["computedAt"])) < 20
    novelty = symbol["novelty"]
    assert (novelty["score"], novelty["zscore"], novelty["percentile"], novelty["window"]) == (
        0.93, 2.4, 0.97, 500)
    assert novelty["stale"] is False
    assert symbol["correlations"] == [{
        "partner": {"symbol": ETH, "input": ETH}, "coefficient": 0.91, "window": 500,
        "computedAt": regime["computedAt"],
    }]


def _epoch(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso).timestamp()


def test_unknown_symbol_is_null_with_not_found(api: TestClient) -> None:
    body = gql(api, '{ symbol(symbol: "NOPE") { symbol } }')
    assert body["data"] == {"symbol": None}
    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == ["symbol"]
    assert "NOPE" in error["message"]


def test_partial_data_answers_nulls_without_errors(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, regimes={"1d": regime_fields()})
    body = gql(api, '{ symbol(symbol: "BTC") { regime { label } novelty { score } correlations { coefficient } } }')
    assert "errors" not in body
    assert body["data"]["symbol"] == {"regime": [{"label": "trending_up"}], "novelty": None,
                                      "correlations": None}


def test_a_symbol_with_only_novelty_or_only_correlations_is_found(
        api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, "AAPL", novelty={"score": 0.1})
    write_symbol(sync_redis, "MSFT", correlations={"AAPL": {"coefficient": 0.5}})
    body = gql(api, '{ symbols(symbols: ["aapl", "msft"]) { symbol regime { label } novelty { score window computedAt stale } } }')
    assert "errors" not in body
    assert body["data"]["symbols"] == [
        {"symbol": "AAPL", "regime": None,
         "novelty": {"score": 0.1, "window": None, "computedAt": None, "stale": True}},
        {"symbol": "MSFT", "regime": None, "novelty": None},
    ]


def test_symbols_answers_one_entry_per_input_in_order_with_errors_at_their_paths(
        api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, BTC, [ETH])
    full_symbol(sync_redis, ETH, [BTC])
    body = gql(api, '{ symbols(symbols: ["ETH", "NOPE", "bad symbol", "btc", "BTC-USD"]) { symbol input } }')
    assert body["data"]["symbols"] == [
        {"symbol": ETH, "input": "ETH"}, None, None,
        {"symbol": BTC, "input": "btc"}, {"symbol": BTC, "input": "BTC-USD"},
    ]
    codes = {tuple(e["path"]): e["extensions"]["code"] for e in body["errors"]}
    assert codes == {("symbols", 1): "NOT_FOUND", ("symbols", 2): "BAD_USER_INPUT"}


def test_an_empty_symbol_list_answers_an_empty_list(api: TestClient) -> None:
    assert strip_cost(gql(api, "{ symbols(symbols: []) { symbol } }")) == {"data": {"symbols": []}}


def test_regimes_are_ordered_m1_to_mn1_and_filterable(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, regimes={tf: regime_fields(label=f"l{tf}") for tf in
                                          ("1M", "1h", "1m", "1w", "15m")})
    body = gql(api, '{ symbol(symbol: "BTC") { all: regime { timeframe } some: regime(timeframes: [MN1, M1, D1]) { timeframe label } none: regime(timeframes: [D1]) { timeframe } } }')
    symbol = body["data"]["symbol"]
    assert [r["timeframe"] for r in symbol["all"]] == ["M1", "M15", "H1", "W1", "MN1"]
    assert symbol["some"] == [{"timeframe": "M1", "label": "l1m"}, {"timeframe": "MN1", "label": "l1M"}]
    assert symbol["none"] == []


def test_unknown_regime_labels_pass_through_as_is(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, regimes={"1h": regime_fields(label="capitulation_v2")})
    body = gql(api, '{ symbol(symbol: "BTC") { regime { label } } }')
    assert body["data"]["symbol"]["regime"] == [{"label": "capitulation_v2"}]


def test_non_numeric_and_missing_fields_read_as_null(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, regimes={
        "1h": {"regime": "ranging", "confidence": "n/a", "volatility": "nan", "computed_at": "soon"},
        "4h": {"confidence": "0.5", "computed_at": repr(time.time())},  # no label: absent
    }, novelty={"score": 0.4, "zscore": "high", "window": 12.5, "percentile": True})
    body = gql(api, '{ symbol(symbol: "BTC") { regime { timeframe label confidence volatility trend model computedAt ageSeconds stale } novelty { score zscore window percentile } } }')
    assert "errors" not in body
    assert body["data"]["symbol"] == {
        "regime": [{"timeframe": "H1", "label": "ranging", "confidence": None, "volatility": None,
                    "trend": None, "model": None, "computedAt": None, "ageSeconds": None,
                    "stale": True}],
        "novelty": {"score": 0.4, "zscore": None, "window": None, "percentile": None},
    }


def test_values_missing_their_required_field_read_as_absent(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, novelty={"zscore": 1.0}, correlations={
        ETH: {"coefficient": 1.5}, "AAPL": b"not json", "MSFT": {"window": 3}, "TSLA": {"coefficient": -0.2}})
    body = gql(api, '{ symbol(symbol: "BTC") { novelty { score } correlations { partner { symbol } coefficient } } }')
    assert "errors" not in body
    assert body["data"]["symbol"] == {
        "novelty": None, "correlations": [{"partner": {"symbol": "TSLA"}, "coefficient": -0.2}]}


def test_stale_follows_the_freshness_limit_of_each_timeframe(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, regimes={"1m": regime_fields(age=600), "1d": regime_fields(age=600)})
    body = gql(api, '{ symbol(symbol: "BTC") { regime { timeframe stale } } }')
    assert body["data"]["symbol"]["regime"] == [{"timeframe": "M1", "stale": True},
                                                {"timeframe": "D1", "stale": False}]


def test_an_index_entry_whose_key_expired_reads_as_absent(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, regimes={"1h": regime_fields()}, novelty={"score": 0.2})
    sync_redis.delete(keys.novelty(BTC))
    sync_redis.sadd(keys.index(BTC), keys.regime("AAPL", "1h"), "garbage")  # foreign entries
    body = strip_cost(gql(api, '{ symbol(symbol: "BTC") { regime { timeframe } novelty { score } } }'))
    assert body == {"data": {"symbol": {"regime": [{"timeframe": "H1"}], "novelty": None}}}


def test_an_index_whose_keys_all_expired_is_not_found(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, novelty={"score": 0.2}, regimes={"1h": regime_fields()})
    sync_redis.delete(keys.novelty(BTC), keys.regime(BTC, "1h"))
    body = gql(api, '{ symbol(symbol: "BTC") { novelty { score } regime { label } } }')
    assert body["data"] == {"symbol": None}
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_correlations_are_strongest_first_with_ties_by_partner(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, correlations={
        "ZZZ": {"coefficient": 0.5}, "AAA": {"coefficient": -0.5}, "MMM": {"coefficient": 0.9},
        "BBB": {"coefficient": 0.1}, "CCC": {"coefficient": -0.95}})
    body = gql(api, '{ symbol(symbol: "BTC") { all: correlations { partner { symbol } } '
                    'two: correlations(first: 2) { coefficient } '
                    'strong: correlations(minAbs: 0.5) { partner { symbol } } '
                    'none: correlations(minAbs: 0.99) { coefficient } } }')
    symbol = body["data"]["symbol"]
    assert [c["partner"]["symbol"] for c in symbol["all"]] == ["CCC", "MMM", "AAA", "ZZZ", "BBB"]
    assert symbol["two"] == [{"coefficient": -0.95}, {"coefficient": 0.9}]
    assert [c["partner"]["symbol"] for c in symbol["strong"]] == ["CCC", "MMM", "AAA", "ZZZ"]
    assert symbol["none"] == []


def test_correlations_default_to_twenty(api: TestClient, sync_redis: redis.Redis) -> None:
    write_symbol(sync_redis, BTC, correlations={f"S{i:02d}": {"coefficient": i / 100} for i in range(30)})
    body = gql(api, '{ symbol(symbol: "BTC") { correlations { coefficient } } }')
    assert len(body["data"]["symbol"]["correlations"]) == 20
    assert body["data"]["symbol"]["correlations"][0] == {"coefficient": 0.29}


def test_partners_resolve_their_own_data_and_never_fail(api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, BTC, [ETH, "UNKNOWN"])
    write_symbol(sync_redis, ETH, novelty={"score": 0.3})
    body = gql(api, '{ symbol(symbol: "BTC") { correlations { partner { symbol input novelty { score } regime { label } correlations { coefficient } } } } }')
    assert "errors" not in body
    assert body["data"]["symbol"]["correlations"] == [
        {"partner": {"symbol": ETH, "input": ETH, "novelty": {"score": 0.3}, "regime": None,
                     "correlations": None}},
        {"partner": {"symbol": "UNKNOWN", "input": "UNKNOWN", "novelty": None, "regime": None,
                     "correlations": None}},
    ]


def test_fragments_and_aliases_select_the_same_data(api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, BTC, [ETH])
    full_symbol(sync_redis, ETH, [BTC])
    body = gql(api, """
        query Q($s: String!) { a: symbol(symbol: $s) { ...F } }
        fragment F on Symbol { n: novelty { score } ... on Symbol { correlations(first: 1) { partner { ...P } } } }
        fragment P on Symbol { regime(timeframes: [H1]) { label } }
    """, {"s": "BTC"})
    assert strip_cost(body) == {"data": {"a": {"n": {"score": 0.5}, "correlations": [
        {"partner": {"regime": [{"label": "trending_up"}]}}]}}}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ('{ symbol(symbol: "BTC") { correlations(first: -1) { coefficient } } }', "first:) must be at least 0"),
        ('{ symbol(symbol: "BTC") { correlations(minAbs: 1.5) { coefficient } } }', "minAbs:) must be within 0..1"),
        ('{ symbol(symbol: "BTC") { correlations(minAbs: -0.1) { coefficient } } }', "minAbs:) must be within 0..1"),
        ('{ symbol(symbol: "") { symbol } }', "must not be empty"),
        ('{ symbol(symbol: "BTC*") { symbol } }', "only letters, digits"),
        ('{ symbol(symbol: "' + "A" * 41 + '") { symbol } }', "at most 40 characters"),
    ],
)
def test_bad_arguments_are_bad_user_input_before_any_redis_call(
        api: TestClient, sync_redis: redis.Redis, query: str, fragment: str) -> None:
    full_symbol(sync_redis, BTC, [ETH])
    before = sync_redis.info("stats")["total_commands_processed"]
    response = api.post("/graphql", json={"query": query})
    after = sync_redis.info("stats")["total_commands_processed"]
    assert response.status_code == 200
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert fragment in error["message"]
    assert after - before == 1  # only our own INFO call
    assert body["data"] == {"symbol": None}


def test_bad_variables_are_bad_user_input(api: TestClient) -> None:
    response = api.post("/graphql", json={"query": "query Q($s: String!) { symbol(symbol: $s) { symbol } }",
                                          "variables": {"s": 5}})
    body = response.json()
    assert response.status_code == 200
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_an_unknown_timeframe_is_a_validation_error(api: TestClient) -> None:
    body = gql(api, '{ symbol(symbol: "BTC") { regime(timeframes: [H2]) { label } } }')
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in body


def test_responses_are_json_with_numbers_as_numbers(api: TestClient, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, BTC, [ETH])
    response = api.post("/graphql", json={"query": '{ symbol(symbol: "BTC") { novelty { score window } } }'})
    assert response.headers["content-type"].startswith("application/json")
    assert strip_cost(orjson.loads(response.content)) == {"data": {"symbol": {"novelty": {"score": 0.5, "window": 500}}}}


@pytest.mark.parametrize("protocol", [2, 3])
def test_a_client_of_either_protocol_reads_the_same_answer(
        api: TestClient, settings: Settings, sync_redis: redis.Redis, protocol: int) -> None:
    # Argus' own client speaks RESP2 (hashes as flat lists); a caller's client may speak RESP3.
    full_symbol(sync_redis, BTC, [ETH])
    sync_redis.hset(keys.regime(BTC, "1h"), mapping={"model": "regime", "source": "rust"})
    query = """{ symbol(symbol: "BTC-USD") { symbol regime { timeframe label confidence
        volatility trend model computedAt } novelty { score window }
        correlations { partner { symbol } coefficient } } }"""
    expected = strip_cost(gql(api, query))
    client = aioredis.Redis.from_url(settings.redis_url, protocol=protocol)
    with TestClient(create_app(settings, redis_client=client)) as other:
        assert strip_cost(gql(other, query)) == expected
    assert "errors" not in expected and expected["data"]["symbol"]["regime"]
