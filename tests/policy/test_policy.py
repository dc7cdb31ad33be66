"""``Policy.admit``, the one entry of the tier policy: its steps in order, for any connection.

The same entry serves ``/graphql`` (a ``Request``) and a WebSocket subscription to come (a
``WebSocket``): the caller comes from the connection's headers, and the refusals are the
same whatever carries the operation.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import HTTPConnection, Request
from starlette.types import Message
from starlette.websockets import WebSocket

from argus.data.store import create_client
from argus.errors import QueryTooComplex, RateLimited, RequestError, Unauthenticated
from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.engine import Engine
from argus.graphql.schema import schema
from argus.policy.limits import parse_tokens
from argus.policy.policy import InvalidDocument, Policy
from argus.settings import Settings
from tests.policy.test_api_keys import add_key

QUERY = '{ symbol(symbol: "BTC") { symbol } }'
KINDS = ("http", "websocket")


def connection(kind: str, headers: dict[str, str] | None = None) -> HTTPConnection:
    scope = {"type": kind, "path": "/graphql", "query_string": b"", "client": ("10.0.0.7", 5000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        raise AssertionError("admission sends nothing")

    if kind == "websocket":
        return WebSocket(scope, receive, send)
    return Request({**scope, "method": "POST"}, receive)


@pytest.fixture
async def policy(redis_url: str) -> AsyncIterator[Policy]:
    settings = Settings.from_env({}, redis_url=redis_url, universe_refresh=3_600.0)
    client = create_client(settings)
    try:
        yield Policy(settings, client, Engine(graphql_schema(schema)))
    finally:
        await client.aclose()


async def admit(policy: Policy, conn: HTTPConnection, query: str | None = QUERY,
                method: str | None = None, **kwargs: Any) -> Any:
    return await policy.admit(conn, query, kwargs.get("extensions"), kwargs.get("variables"),
                              kwargs.get("operation_name"), method)


@pytest.mark.parametrize("kind", KINDS)
async def test_an_anonymous_operation_is_admitted_and_charged(policy: Policy, kind: str) -> None:
    admitted = await admit(policy, connection(kind))
    assert admitted.caller.tier.name == "anonymous"
    assert admitted.query == QUERY and admitted.operation is not None
    assert admitted.validation.errors == () and admitted.validation.cost > 0
    assert admitted.charge is not None  # the anonymous tier has a budget
    # The document is the engine's: what the policy parsed is what will be executed.
    assert policy.engine.parse(QUERY, parse_tokens(admitted.caller.tier)) is admitted.document


@pytest.mark.parametrize("kind", KINDS)
async def test_the_caller_comes_from_the_connections_headers(policy: Policy, kind: str,
                                                             redis_url: str) -> None:
    key = add_key(redis_url, "pro", f"policy-{kind}")
    admitted = await admit(policy, connection(kind, {"X-API-Key": key}))
    assert admitted.caller.tier.name == "pro"
    with pytest.raises(Unauthenticated):
        await admit(policy, connection(kind, {"X-API-Key": "argus_nope"}))
    with pytest.raises(Unauthenticated):
        await admit(policy, connection(kind, {"Authorization": "Bearer not-a-jwt"}))


@pytest.mark.parametrize("kind", KINDS)
async def test_the_same_refusals_whatever_carries_the_operation(policy: Policy, kind: str) -> None:
    conn = connection(kind)
    with pytest.raises(RequestError, match="Missing 'query'"):
        await admit(policy, conn, None)
    with pytest.raises(InvalidDocument) as parse_failed:
        await admit(policy, conn, "{ symbol(")
    assert parse_failed.value.code == "GRAPHQL_PARSE_FAILED" and not parse_failed.value.too_complex
    with pytest.raises(InvalidDocument) as invalid:
        await admit(policy, conn, '{ symbol(symbol: "BTC") { nope } }')
    assert invalid.value.code == "GRAPHQL_VALIDATION_FAILED" and not invalid.value.too_complex
    deep = '{ symbol(symbol: "BTC") { correlations { partner { correlations { partner { ' \
           "correlations { partner { symbol } } } } } } } }"
    with pytest.raises(InvalidDocument) as too_deep:
        await admit(policy, conn, deep)
    assert too_deep.value.too_complex
    # Past the anonymous tier's token bound the parser stops: QUERY_TOO_COMPLEX, not a parse error.
    with pytest.raises(QueryTooComplex):
        await admit(policy, conn, "{ " + "symbol " * 6_000 + "}")


async def test_a_get_may_only_run_a_query_and_that_is_judged_before_validation(policy: Policy) -> None:
    with pytest.raises(RequestError) as refused:
        await admit(policy, connection("http"), "mutation { x }", method="GET")
    assert (refused.value.status, refused.value.headers) == (405, {"Allow": "POST"})
    with pytest.raises(InvalidDocument):  # over POST (or a WebSocket) validation answers it
        await admit(policy, connection("websocket"), "mutation { x }")


async def test_a_persisted_query_is_registered_only_once_charged(
        policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[str] = []

    async def register(sha: str, query: str) -> None:
        registered.append(sha)

    async def spent(*args: object) -> None:
        raise RateLimited("spent", retry_after=1)

    monkeypatch.setattr(policy.persisted, "register", register)
    sha = hashlib.sha256(QUERY.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    with monkeypatch.context() as m:
        m.setattr(policy, "charge", spent)
        with pytest.raises(RateLimited):
            await admit(policy, connection("websocket"), extensions=extensions)
    assert registered == []
    await admit(policy, connection("websocket"), extensions=extensions)
    assert registered == [sha]


async def test_a_fixed_cost_entry_checks_before_it_charges(policy: Policy,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    charged: list[int] = []
    real = policy.charge

    async def charge(caller: Any, cost: int) -> Any:
        charged.append(cost)
        return await real(caller, cost)

    monkeypatch.setattr(policy, "charge", charge)

    def refuse(caller: Any) -> None:
        raise RequestError("bad input")

    with pytest.raises(RequestError):
        await policy.admit_fixed(connection("http"), policy.rest_cost, refuse)
    assert charged == []
    caller, checked, spent = await policy.admit_fixed(connection("websocket"), policy.rest_cost,
                                                      lambda caller: caller.tier.name)
    assert (checked, charged) == ("anonymous", [policy.rest_cost])
    assert caller.tier.name == "anonymous" and spent is not None
