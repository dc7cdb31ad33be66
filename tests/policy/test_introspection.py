"""Introspection and the token bound (``docs/contract/clarifications.md`` §15).

The parser stops at the caller's bound, max(tier tokens, 5,000) + 1, so a long document
costs a refusal little parsing; an introspection-only document is held to 5,000 tokens,
charged a fixed cost, and refused where the tier turns introspection off.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import get_introspection_query
from graphql.language.parser import Parser
from starlette.testclient import TestClient

from argus.http.app import create_app
from argus.policy.tiers import DEFAULT_TIERS
from tests.tokens import Issuer, bearer

TIERS = {tier.name: tier for tier in DEFAULT_TIERS}
INTROSPECTION = get_introspection_query(input_value_deprecation=True)
SCHEMA_NAME = "{ __schema { queryType { name } } }"



@pytest.fixture
def closed(issuer: Issuer, redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A deployment whose anonymous tier may not introspect."""
    tiers = tmp_path / "tiers.toml"
    tiers.write_text("[anonymous]\nintrospection = false\n")
    with TestClient(create_app(issuer.settings(redis_url, tiers_file=tiers))) as c:
        yield c


def run(client: TestClient, query: str, tier: str | None = None, issuer: Issuer | None = None) -> Any:
    headers = bearer(issuer.token(tier=tier)) if issuer is not None and tier is not None else {}
    return client.post("/graphql", json={"query": query}, headers=headers)


def fields_query(count: int) -> str:
    return '{ symbol(symbol: "BTC") { ' + "symbol " * count + "} }"


LEVEL = " ".join(f"{leaf} @include(if: true)" for leaf in
                 ("name", "kind", "description", "specifiedByURL", "isOneOf", "__typename"))


def introspection_of(tokens: int) -> str:
    """``{ __type(name: "Symbol") { name ... ofType { name ... } } }`` of exactly ``tokens``
    tokens, each level's leaves distinct (so field merging has no pairs to compare)."""
    left, opened, parts = tokens - 10, 0, ['{ __type(name: "Symbol") {']
    while left > 51:
        parts.append(LEVEL + " ofType {")  # 6 × 8 + 2 tokens, and its closing brace
        left, opened = left - 51, opened + 1
    parts.append("__typename " * left + "}" * opened + "} }")
    return " ".join(parts)


def test_a_long_document_stops_parsing_at_the_callers_bound(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    consumed = [0]
    advance = Parser.advance_lexer

    def counting(self: Parser) -> None:
        consumed[0] += 1
        advance(self)

    monkeypatch.setattr(Parser, "advance_lexer", counting)
    response = run(client, fields_query(49_000))  # anonymous: 1,000 tokens
    assert response.status_code == 400, response.text[:300]
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "maxTokens",
                                   "value": 1_000, "found": 5_002}
    assert error["message"] == "More than 5001 tokens found. Allowed for the anonymous tier: 1000."
    assert consumed[0] <= 5_002  # not the document's 49,010


def test_the_parse_cache_keeps_each_tiers_bound(client: TestClient, issuer: Issuer) -> None:
    query = fields_query(9_000)  # 9,010 tokens: within enterprise's 10,000
    assert run(client, query, "enterprise", issuer).status_code == 200
    refused = run(client, query, "pro", issuer)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["limit"] == "maxTokens"
    assert run(client, query, "enterprise", issuer).status_code == 200


def test_an_introspection_document_is_held_to_5000_tokens(
        client: TestClient, issuer: Issuer) -> None:
    allowed = run(client, introspection_of(1_500), "anonymous", issuer)  # over the tier's 1,000
    assert allowed.status_code == 200, allowed.text[:300]
    assert "errors" not in allowed.json()
    for tier in ("anonymous", "enterprise"):  # enterprise's own value is 10,000
        refused = run(client, introspection_of(5_001), tier, issuer)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["message"] == (
            f"5001 tokens found. Allowed for the {tier} tier: 5000.")
    # Any other document keeps the tier's own value.
    assert run(client, fields_query(1_500), "anonymous", issuer).status_code == 400
    assert run(client, fields_query(6_000), "enterprise", issuer).status_code == 200


def test_introspection_is_charged_its_fixed_cost(client: TestClient, issuer: Issuer) -> None:
    token = issuer.token(tier="free")
    first = client.post("/graphql", json={"query": INTROSPECTION}, headers=bearer(token))
    assert first.status_code == 200
    assert first.json()["extensions"]["cost"]["requested"] == 10
    budget = TIERS["free"].budget
    assert budget is not None
    assert int(first.headers["RateLimit-Remaining"]) == budget - 10


def test_the_introspection_cost_is_a_setting(issuer: Issuer, redis_url: str) -> None:
    with TestClient(create_app(issuer.settings(redis_url, introspection_cost=3))) as c:
        response = c.post("/graphql", json={"query": SCHEMA_NAME},
                          headers=bearer(issuer.token(tier="free")))
    assert response.json()["extensions"]["cost"]["requested"] == 3


def test_typename_alone_is_an_ordinary_query(closed: TestClient) -> None:
    response = run(closed, "{ __typename }")
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}
    assert response.json()["extensions"]["cost"]["requested"] == 0


@pytest.mark.parametrize("query", [
    INTROSPECTION,
    SCHEMA_NAME,
    '{ __type(name: "Symbol") { name } }',
    '{ symbol(symbol: "BTC") { symbol } __schema { queryType { name } } }',
    "query { ...F } fragment F on Query { __schema { types { name } } }",
])
def test_a_tier_without_introspection_is_refused_naming_it(closed: TestClient, query: str) -> None:
    response = run(closed, query)
    assert response.status_code == 400, response.text[:300]
    error = response.json()["errors"][0]
    assert error["message"] == "Introspection is not allowed for the anonymous tier."
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == "introspection"
    assert "data" not in response.json()


def test_graphiql_loads_for_the_tiers_that_allow_introspection(
        closed: TestClient, issuer: Issuer) -> None:
    page = closed.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    response = run(closed, INTROSPECTION, "free", issuer)
    assert response.status_code == 200
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"
