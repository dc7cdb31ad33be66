"""Each tier's depth, symbols, aliases and tokens limits hold exactly at their edges.

Tokens are minted by a test JWKS with the tier in the ``tier`` claim, a fresh subject per
request so budgets never interfere. Limits are refused before any Redis work (400).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from graphql import get_introspection_query
from starlette.testclient import TestClient

from argus.http.app import create_app
from argus.policy.tiers import DEFAULT_TIERS, Tier
from tests.tokens import Issuer, bearer

TIERS = {tier.name: tier for tier in DEFAULT_TIERS}



def run(client: TestClient, issuer: Issuer, tier: str, query: str,
        variables: dict[str, Any] | None = None) -> Any:
    return client.post("/graphql", json={"query": query, "variables": variables},
                       headers=bearer(issuer.token(tier=tier)))


def assert_allowed(response: Any) -> None:
    assert response.status_code == 200, response.text[:500]
    codes = {e["extensions"]["code"] for e in response.json().get("errors", [])}
    assert "QUERY_TOO_COMPLEX" not in codes and "GRAPHQL_VALIDATION_FAILED" not in codes


def assert_refused(response: Any, message: str, limit: str) -> None:
    assert response.status_code == 400, response.text[:500]
    errors = response.json()["errors"]
    assert [e["message"] for e in errors] == [message]
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert errors[0]["extensions"]["limit"] == limit
    assert "data" not in response.json()


def depth_query(depth: int) -> str:
    """A query of exactly ``depth`` nested selection sets below the root field."""
    pairs, odd = divmod(depth - 1, 2)
    inner = "novelty { score }" if odd else "symbol"
    for _ in range(pairs):
        inner = f"correlations(first: 1) {{ partner {{ {inner} }} }}"
    return f'{{ symbol(symbol: "BTC") {{ {inner} }} }}'


def aliases_query(count: int) -> str:
    fields = " ".join(f"a{i}: symbol" for i in range(count))
    return f'{{ symbol(symbol: "BTC") {{ symbol {fields} }} }}'


def tokens_query(count: int) -> str:
    # { symbol ( symbol : "BTC" ) { regime ( timeframes : [ ... ] ) { label } } } = 20 tokens
    timeframes = " ".join(["M1"] * (count - 20))
    return f'{{ symbol(symbol: "BTC") {{ regime(timeframes: [{timeframes}]) {{ label }} }} }}'


@pytest.mark.parametrize("tier", list(TIERS))
def test_depth_is_allowed_at_the_limit_and_refused_one_past(
        client: TestClient, issuer: Issuer, tier: str) -> None:
    limit = TIERS[tier].max_depth
    assert_allowed(run(client, issuer, tier, depth_query(limit)))
    assert_refused(run(client, issuer, tier, depth_query(limit + 1)),
                   f"Query depth {limit + 1} found. Allowed for the {tier} tier: {limit}.",
                   "maxDepth")


def test_depth_counts_the_contract_example_as_four(client: TestClient, issuer: Issuer) -> None:
    query = '{ symbol(symbol: "BTC") { correlations { partner { regime { label } } } } }'
    assert_allowed(run(client, issuer, "anonymous", query))
    deeper = '{ symbol(symbol: "BTC") { correlations { partner { correlations { partner { symbol } } } } } }'
    assert run(client, issuer, "anonymous", deeper).status_code == 400


@pytest.mark.parametrize("tier", list(TIERS))
def test_symbols_from_variables_are_allowed_at_the_limit_and_refused_one_past(
        client: TestClient, issuer: Issuer, tier: str) -> None:
    limit = TIERS[tier].max_symbols
    query = "query($s: [String!]!) { symbols(symbols: $s) { symbol } }"
    names = [f"EQ{i}" for i in range(limit + 1)]
    assert_allowed(run(client, issuer, tier, query, {"s": names[:limit]}))
    assert_refused(run(client, issuer, tier, query, {"s": names}),
                   f"{limit + 1} symbols requested. Allowed for the {tier} tier: {limit}.",
                   "maxSymbols")


@pytest.mark.parametrize("tier", ["anonymous", "free"])
def test_symbols_are_counted_over_literal_lists_and_root_fields(
        client: TestClient, issuer: Issuer, tier: str) -> None:
    limit = TIERS[tier].max_symbols
    literal = ", ".join(f'"EQ{i}"' for i in range(limit - 1))
    at_limit = f'{{ symbols(symbols: [{literal}]) {{ symbol }} one: symbol(symbol: "BTC") {{ symbol }} }}'
    past = at_limit[:-1] + 'two: symbol(symbol: "ETH") { symbol } }'
    assert_allowed(run(client, issuer, tier, at_limit))
    assert_refused(run(client, issuer, tier, past),
                   f"{limit + 1} symbols requested. Allowed for the {tier} tier: {limit}.",
                   "maxSymbols")


@pytest.mark.parametrize("tier", list(TIERS))
def test_aliases_are_allowed_at_the_limit_and_refused_one_past(
        client: TestClient, issuer: Issuer, tier: str) -> None:
    limit = TIERS[tier].max_aliases
    assert_allowed(run(client, issuer, tier, aliases_query(limit)))
    assert_refused(run(client, issuer, tier, aliases_query(limit + 1)),
                   f"{limit + 1} aliases found. Allowed for the {tier} tier: {limit}.",
                   "maxAliases")


@pytest.mark.parametrize("tier", list(TIERS))
def test_tokens_are_allowed_at_the_limit_and_refused_one_past(
        client: TestClient, issuer: Issuer, tier: str) -> None:
    limit = TIERS[tier].max_tokens
    assert_allowed(run(client, issuer, tier, tokens_query(limit)))
    assert_refused(run(client, issuer, tier, tokens_query(limit + 1)),
                   f"{limit + 1} tokens found. Allowed for the {tier} tier: {limit}.",
                   "maxTokens")


def test_introspection_is_exempt_from_depth_and_tokens(client: TestClient, issuer: Issuer) -> None:
    response = run(client, issuer, "anonymous", get_introspection_query())
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


def test_a_refused_query_does_no_redis_work(
        client: TestClient, issuer: Issuer, sync_redis: redis.Redis) -> None:
    assert run(client, issuer, "anonymous", depth_query(9)).status_code == 400
    assert sync_redis.dbsize() == 0  # not even a budget key


def test_limits_follow_a_tiers_file(issuer: Issuer, redis_url: str, tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.toml"
    tiers.write_text("[anonymous]\nmax_depth = 2\n")
    with TestClient(create_app(issuer.settings(redis_url, tiers_file=tiers))) as c:
        assert_allowed(run(c, issuer, "anonymous", depth_query(2)))
        assert_refused(run(c, issuer, "anonymous", depth_query(3)),
                       "Query depth 3 found. Allowed for the anonymous tier: 2.", "maxDepth")


def test_other_validation_errors_keep_their_code(client: TestClient, issuer: Issuer) -> None:
    response = run(client, issuer, "anonymous", "{ nope }")
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_a_refusal_is_cached_per_tier_not_per_query(client: TestClient, issuer: Issuer) -> None:
    query = depth_query(5)
    assert run(client, issuer, "anonymous", query).status_code == 400
    assert_allowed(run(client, issuer, "free", query))
    assert run(client, issuer, "anonymous", query).status_code == 400


def test_bad_tier_files_fail_at_start_up(tmp_path: Path) -> None:
    from argus.errors import ConfigurationError
    from argus.policy.tiers import TierTable

    for text in ["[gold]\nmax_depth = 1\n", "[pro]\nmax_depth = -1\n", "[pro]\nspeed = 1\n",
                 "[anonymous]\nmax_cost = 700\n", "not toml ["]:
        path = tmp_path / "t.toml"
        path.write_text(text)
        with pytest.raises(ConfigurationError):
            TierTable.load(path)
    path.write_text('[pro]\nbudget = "unlimited"\n')
    assert TierTable.load(path)["pro"].budget is None
    assert isinstance(TierTable.load(None)["pro"], Tier)


def test_large_variable_lists_are_validated_by_their_length(
        client: TestClient, issuer: Issuer) -> None:
    query = "query($s: [String!]!) { symbols(symbols: $s) { symbol } }"
    names = [f"EQ{i:05d}" for i in range(1_000)]
    assert len(orjson.dumps({"s": names})) > 4_096
    assert_allowed(run(client, issuer, "enterprise", query, {"s": names}))
    assert run(client, issuer, "pro", query, {"s": names}).status_code == 400
    other = [f"X{i}" for i in range(1_000)]  # same length, other symbols: same verdict
    assert_allowed(run(client, issuer, "enterprise", query, {"s": other}))
    assert run(client, issuer, "enterprise", query, {"s": [*other, "ONE_MORE"]}).status_code == 400


def test_a_cached_validation_never_answers_for_other_variable_values(
        client: TestClient, issuer: Issuer) -> None:
    limit = TIERS["free"].max_symbols
    listed = "query($s: [String!]!) { symbols(symbols: $s) { symbol } }"
    assert_allowed(run(client, issuer, "free", listed, {"s": ["BTC"] * limit}))
    assert run(client, issuer, "free", listed, {"s": ["BTC"] * (limit + 1)}).status_code == 400
    assert_allowed(run(client, issuer, "free", listed, {"s": "BTC"}))  # one value, coerced
    # (1 + first) x 5 symbols: 200 is the anonymous tier's cost limit.
    costed = ("query($s: [String!]!, $f: Int) "
              "{ symbols(symbols: $s) { correlations(first: $f) { coefficient } } }")
    five = ["BTC", "ETH", "SOL", "AAPL", "MSFT"]
    assert_allowed(run(client, issuer, "anonymous", costed, {"s": five, "f": 39}))
    message = "Query cost 205 found. Allowed for the anonymous tier: 200."
    assert_refused(run(client, issuer, "anonymous", costed, {"s": five, "f": 40}), message, "maxCost")
    assert_refused(run(client, issuer, "anonymous", costed, {"s": five, "f": None}), message, "maxCost")


TYPO = '{ symbol(symbol: "BTC") { regim { label } } }'
ENUM_TYPO = ('query($t: [Timeframe!]) { symbol(symbol: "BTC") { regime(timeframes: $t) '
             "{ label } } }")


def messages(response: Any) -> list[str]:
    return [e["message"] for e in response.json()["errors"]]


def test_suggestions_are_hidden_from_anonymous_callers(client: TestClient, issuer: Issuer) -> None:
    hidden = messages(client.post("/graphql", json={"query": TYPO}))
    assert hidden == ["Cannot query field 'regim' on type 'Symbol'."]
    shown = messages(run(client, issuer, "free", TYPO))
    assert shown == ["Cannot query field 'regim' on type 'Symbol'. Did you mean 'regime'?"]
    # Variable values are coerced at execution: their suggestions are hidden too.
    enum = messages(client.post("/graphql", json={"query": ENUM_TYPO, "variables": {"t": ["M2"]}}))
    assert enum and all("Did you mean" not in m for m in enum), enum
    assert any("Did you mean" in m for m in messages(run(client, issuer, "free", ENUM_TYPO, {"t": ["M2"]})))


def test_suggestions_follow_a_tiers_file(issuer: Issuer, redis_url: str, tmp_path: Path) -> None:
    tiers = tmp_path / "tiers.toml"
    tiers.write_text("[anonymous]\nsuggestions = true\n[pro]\nsuggestions = false\n")
    with TestClient(create_app(issuer.settings(redis_url, tiers_file=tiers))) as c:
        assert "Did you mean 'regime'?" in messages(c.post("/graphql", json={"query": TYPO}))[0]
        assert "Did you mean" not in messages(run(c, issuer, "pro", TYPO))[0]
