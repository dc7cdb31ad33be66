"""The cost model: computed before execution, limited per tier, reported in extensions.cost."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from graphql import parse
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from argus.errors import ConfigurationError
from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.schema import schema
from argus.policy.cost import COST_MAP, FieldCost, check_cost_map
from argus.policy.limits import Validator
from argus.policy.tiers import DEFAULT_TIERS
from tests.tokens import Issuer, bearer

TIERS = {tier.name: tier for tier in DEFAULT_TIERS}



def run(client: TestClient, issuer: Issuer, tier: str, query: str) -> Any:
    return client.post("/graphql", json={"query": query}, headers=bearer(issuer.token(tier=tier)))


def query_costing(cost: int, max_symbols: int) -> str:
    """A query whose documented cost is exactly ``cost``, within depth 4 and the symbols.

    ``symbols([k]) { correlations(first: f1) { partner { correlations(first: f2) { coefficient } } } }``
    costs k × (1 + f1 × (1 + f2)); ``symbol { correlations(first: g) { coefficient } }`` adds 1 + g.
    """
    for f1 in range(40, 0, -1):
        for f2 in range(40, -1, -1):
            per = 1 + f1 * (1 + f2)
            k = min(max_symbols - 1, cost // per)
            rest = cost - k * per
            if rest == 0 or 1 <= rest <= 41:
                names = ", ".join(f'"EQ{i}"' for i in range(k))
                parts = []
                if k:
                    parts.append(f"symbols(symbols: [{names}]) {{ correlations(first: {f1}) "
                                 f"{{ partner {{ correlations(first: {f2}) {{ coefficient }} }} }} }}")
                if rest:
                    parts.append(f'symbol(symbol: "BTC") {{ correlations(first: {rest - 1}) '
                                 "{ coefficient } }")
                return "{ " + " ".join(parts) + " }"
    raise AssertionError(f"no query costs {cost}")


@pytest.mark.parametrize("tier", ["anonymous", "free", "pro", "enterprise"])
def test_cost_is_allowed_at_the_limit_and_refused_one_past(
        client: TestClient, issuer: Issuer, tier: str) -> None:
    limit = TIERS[tier].max_cost
    assert limit is not None
    allowed = run(client, issuer, tier, query_costing(limit, TIERS[tier].max_symbols))
    assert allowed.status_code == 200, allowed.text[:300]
    assert allowed.json()["extensions"]["cost"]["requested"] == limit
    refused = run(client, issuer, tier, query_costing(limit + 1, TIERS[tier].max_symbols))
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["message"] == f"Query cost {limit + 1} found. Allowed for the {tier} tier: {limit}."
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "maxCost",
                                   "value": limit, "found": limit + 1}


def test_internal_has_no_cost_limit(client: TestClient, issuer: Issuer) -> None:
    response = run(client, issuer, "internal", query_costing(60_001, 20_000))
    assert response.status_code == 200
    assert response.json()["extensions"]["cost"] == {"requested": 60_001, "remaining": None,
                                                     "resetAt": None}


@pytest.mark.parametrize(("query", "cost"), [
    ('{ symbol(symbol: "BTC") { symbol } }', 1),
    ('{ symbol(symbol: "BTC") { regime { label } novelty { score } } }', 3),
    ('{ symbol(symbol: "BTC") { correlations { coefficient } } }', 21),
    ('{ symbol(symbol: "BTC") { correlations(first: null) { coefficient } } }', 41),
    ('{ symbol(symbol: "BTC") { correlations(first: 500) { coefficient } } }', 41),
    ('{ symbol(symbol: "BTC") { correlations(first: 5) { partner { novelty { score } } } } }', 11),
    ('{ symbols(symbols: ["A", "B"]) { regime { label } novelty { score } } }', 6),
    ('{ symbols(symbols: "A") { regime { label } } }', 2),
    ('query { ...F } fragment F on Query { symbol(symbol: "A") { ... on Symbol { novelty { score } } } }', 2),
    ('{ __schema { queryType { name } } }', 10),  # introspection's fixed charge (§15)
    ('{ __typename }', 0),  # not introspection
])
def test_documented_costs(client: TestClient, issuer: Issuer, query: str, cost: int) -> None:
    response = run(client, issuer, "pro", query)
    assert response.json()["extensions"]["cost"]["requested"] == cost


def test_extensions_cost_reports_remaining_and_reset(client: TestClient, issuer: Issuer) -> None:
    token = issuer.token(tier="free")
    query = '{ symbol(symbol: "BTC") { regime { label } } }'
    first = client.post("/graphql", json={"query": query}, headers=bearer(token)).json()
    second = client.post("/graphql", json={"query": query}, headers=bearer(token)).json()
    assert first["extensions"]["cost"]["requested"] == 2
    assert first["extensions"]["cost"]["remaining"] == 1_498
    assert second["extensions"]["cost"]["remaining"] == 1_496
    assert second["extensions"]["cost"]["resetAt"].endswith("Z")


def test_the_cost_map_is_checked_against_the_schema() -> None:
    check_cost_map(graphql_schema(schema))
    # Well-typed maps that name what the schema lacks, or a cost it cannot have.
    bad_maps: tuple[dict[str, dict[str, FieldCost]], ...] = (
        {"Nope": {}}, {"Symbol": {"nope": {"complexity": 1}}},
        {"Symbol": {"correlations": {"complexity": 1, "multipliers": ["last"]}}},
        {"Symbol": {"regime": {"complexity": -1}}})
    for bad in bad_maps:
        with pytest.raises(ConfigurationError):
            check_cost_map(graphql_schema(schema), bad)
    assert "Symbol" in COST_MAP


FIVE = '["A", "B", "C", "D", "E"]'
PARTNERS = "partner { regime { label } novelty { score } }"


def run_with(client: TestClient, issuer: Issuer, tier: str, query: str,
             variables: dict[str, Any]) -> Any:
    return client.post("/graphql", json={"query": query, "variables": variables},
                       headers=bearer(issuer.token(tier=tier)))


@pytest.mark.parametrize("n", [40, 40.0])
def test_an_integral_float_variable_costs_what_its_int_costs(
        client: TestClient, issuer: Issuer, n: float) -> None:
    # 5 × (1 + 40 × (1 + 1 + 1)) = 605: graphql-core coerces 40.0 to the Int 40.
    query = f"query($n: Int) {{ symbols(symbols: {FIVE}) {{ correlations(first: $n) {{ {PARTNERS} }} }} }}"
    refused = run_with(client, issuer, "anonymous", query, {"n": n})
    assert refused.status_code == 400, refused.text[:300]
    assert refused.json()["errors"][0]["message"] == (
        "Query cost 605 found. Allowed for the anonymous tier: 200.")


def test_a_cached_cost_never_answers_for_a_float_variable(
        client: TestClient, issuer: Issuer) -> None:
    query = f'query($n: Int) {{ symbol(symbol: "BTC") {{ correlations(first: $n) {{ {PARTNERS} }} }} }}'
    for n in (3.0, 3, 40.0, 40, 3.0):
        response = run_with(client, issuer, "pro", query, {"n": n})
        assert response.json()["extensions"]["cost"]["requested"] == 1 + int(n) * 3


def _cost(query: str, variables: dict[str, Any] | None = None) -> int:
    document = parse(query)
    validation = Validator(graphql_schema(schema))(query, document, TIERS["internal"], variables)
    assert validation.errors == (), validation.errors
    return validation.cost


@settings(max_examples=60, deadline=None)
@given(symbols=st.integers(min_value=1, max_value=5),
       firsts=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=3))
def test_a_query_costs_the_same_with_literals_int_or_float_variables(
        symbols: int, firsts: list[int]) -> None:
    names = [f"S{i}" for i in range(symbols)]

    def nested(arguments: list[str]) -> str:
        inner = "regime { label }"
        for argument in reversed(arguments):
            inner = f"correlations(first: {argument}) {{ partner {{ {inner} }} }}"
        return inner

    literal = f"{{ symbols(symbols: {orjson.dumps(names).decode()}) {{ {nested([str(f) for f in firsts])} }} }}"
    declared = ", ".join(f"$f{i}: Int" for i in range(len(firsts)))
    variable = (f"query($s: [String!]!, {declared}) "
                f"{{ symbols(symbols: $s) {{ {nested([f'$f{i}' for i in range(len(firsts))])} }} }}")
    ints = {"s": names, **{f"f{i}": f for i, f in enumerate(firsts)}}
    floats = {"s": names, **{f"f{i}": float(f) for i, f in enumerate(firsts)}}
    expected = _cost(literal)
    assert _cost(variable, ints) == expected
    assert _cost(variable, floats) == expected
