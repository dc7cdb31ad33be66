"""The GraphQL view's pieces as units: reading a request, choosing the status and the media type."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from graphql import GraphQLError
from starlette.requests import Request

from argus.errors import (
    ArgusError,
    QueryTooComplex,
    RateLimited,
    RequestError,
    ServiceUnavailable,
    Unauthenticated,
)
from argus.http.view import (
    GRAPHQL_RESPONSE,
    JSON,
    GraphQLRequest,
    error_headers,
    request_level_error,
    response_media_type,
)


def http(method: str = "POST", *, params: dict[str, str] | None = None, body: bytes = b"",
         headers: dict[str, str] | None = None) -> Request:
    scope = {"type": "http", "method": method, "path": "/graphql",
             "query_string": urlencode(params or {}).encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def json_post(body: bytes, **headers: str) -> Request:
    return http(body=body, headers={"content-type": "application/json", **headers})


async def refusal(request: Request, max_body: int = 1_048_576) -> RequestError:
    with pytest.raises(RequestError) as caught:
        await GraphQLRequest.from_http(request, max_body)
    return caught.value


# --- Reading a request ----------------------------------------------------------------------

async def test_a_get_reads_its_parameters_and_decodes_the_json_ones() -> None:
    gql = await GraphQLRequest.from_http(http("GET", params={
        "query": "query Q($s: String!) { symbol(symbol: $s) { symbol } }",
        "variables": '{"s": "BTC"}', "operationName": "Q"}))
    assert (gql.method, gql.variables, gql.operation_name) == ("GET", {"s": "BTC"}, "Q")
    assert gql.query is not None and gql.query.startswith("query Q")
    assert gql.extensions is None


async def test_a_get_with_invalid_json_variables_is_a_request_error() -> None:
    error = await refusal(http("GET", params={"query": "{ __typename }", "variables": "{"}))
    assert (error.status, error.message) == (400, "The 'variables' parameter is not valid JSON.")


async def test_a_get_query_string_past_the_limit_is_414() -> None:
    error = await refusal(http("GET", params={"query": "{ " + "a " * 100 + "}"}), max_body=64)
    assert error.status == 414


async def test_a_json_post_reads_its_members() -> None:
    gql = await GraphQLRequest.from_http(json_post(
        b'{"query": "{ __typename }", "variables": {"a": 1}, "extensions": {"x": true}}'))
    assert (gql.method, gql.query, gql.variables, gql.extensions) == (
        "POST", "{ __typename }", {"a": 1}, {"x": True})


async def test_an_application_graphql_post_is_the_query_itself() -> None:
    gql = await GraphQLRequest.from_http(http(body=b"{ __typename }",
                                              headers={"content-type": "application/graphql"}))
    assert (gql.query, gql.variables, gql.operation_name) == ("{ __typename }", None, None)


async def test_a_post_without_a_json_content_type_is_415() -> None:
    assert (await refusal(http(body=b"{}"))).status == 415
    assert (await refusal(http(body=b"{}", headers={"content-type": "text/plain"}))).status == 415


@pytest.mark.parametrize(("body", "message"), [
    (b"[]", "Batched requests are not supported."),
    (b'"query"', "The request body must be a JSON object."),
    (b"{", "The request body is not valid JSON."),
    (b'{"query": 1}', "'query' must be a string."),
    (b'{"query": "{ a }", "variables": []}', "'variables' must be a JSON object."),
    (b'{"query": "{ a }", "operationName": 2}', "'operationName' must be a string."),
])
async def test_a_malformed_json_post_is_400_with_its_reason(body: bytes, message: str) -> None:
    error = await refusal(json_post(body))
    assert (error.status, error.message) == (400, message)


async def test_a_declared_body_past_the_limit_is_413_before_it_is_read() -> None:
    error = await refusal(json_post(b"{}", **{"content-length": "100000"}), max_body=1_000)
    assert error.status == 413
    assert error.headers == {"Connection": "close"}


async def test_variables_nested_too_deep_are_refused() -> None:
    body = b'{"query": "{ a }", "variables": {"v": ' + b"[" * 70 + b"]" * 70 + b"}}"
    error = await refusal(json_post(body))
    assert error.message == "'variables' is nested deeper than 64 levels."


# --- Choosing the status ----------------------------------------------------------------------

def wrapped(*errors: Exception) -> list[GraphQLError]:
    return [GraphQLError(str(e), original_error=e) for e in errors]


def test_field_errors_are_no_request_level_error() -> None:
    assert request_level_error(None) is None
    assert request_level_error(wrapped(ValueError("field"), ArgusError("other"))) is None


def test_the_request_level_error_is_chosen_by_kind_not_by_order() -> None:
    unavailable = ServiceUnavailable()
    limited = RateLimited("slow down", retry_after=3)
    complex_ = QueryTooComplex("too deep")
    unauthenticated = Unauthenticated("who are you")
    assert request_level_error(wrapped(unavailable, limited)) is limited
    assert request_level_error(wrapped(unavailable, limited, complex_)) is complex_
    assert request_level_error(wrapped(complex_, unauthenticated)) is unauthenticated
    assert request_level_error(wrapped(ValueError("x"), unavailable)) is unavailable


def test_retry_after_accompanies_only_retryable_errors() -> None:
    assert error_headers(ServiceUnavailable(retry_after=7)) == {"Retry-After": "7"}
    assert error_headers(RateLimited("slow down", retry_after=3)) == {"Retry-After": "3"}
    assert error_headers(Unauthenticated("who are you")) == {}
    assert error_headers(None) == {}


# --- Choosing the media type ------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "expected"), [
    (None, JSON),
    ("application/json", JSON),
    (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
    (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),  # a tie: ours
    (f"application/json, {GRAPHQL_RESPONSE};q=0.5", JSON),
    ("*/*", JSON),
    ("application/*", JSON),
    (f"{GRAPHQL_RESPONSE};q=0, application/json;q=0.1", JSON),
    ("text/html", None),  # nothing we can send: 406
    (f"{GRAPHQL_RESPONSE};q=0", None),
])
def test_the_media_type_follows_the_accept_weights(accept: str | None, expected: str | None) -> None:
    assert response_media_type(http(headers={"accept": accept} if accept else {})) == expected
