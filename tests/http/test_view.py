"""The GraphQL view's pieces as units: reading a request, choosing the status and the media type."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response

from argus.errors import (
    ArgusError,
    PersistedQueryNotFound,
    QueryTooComplex,
    RateLimited,
    RequestError,
    ServiceUnavailable,
    Unauthenticated,
)
from argus.graphql._strawberry_compat import graphql_schema
from argus.graphql.engine import Engine
from argus.graphql.schema import schema
from argus.http.render import (
    GRAPHQL_RESPONSE,
    JSON,
    document_errors,
    error_headers,
    request_level_error,
)
from argus.http.request import GraphQLRequest, response_media_type
from argus.http.view import GraphQLView
from argus.policy.limits import too_complex
from argus.policy.policy import InvalidDocument
from argus.settings import Settings


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


# --- The view's decisions, with a policy that refuses as told -----------------------------------

class Refusing:
    """A stand-in for ``Policy``: ``admit`` raises what the test gives it."""

    def __init__(self, refusal: Exception) -> None:
        self.settings = Settings.from_env({})
        self.refusal = refusal

    async def admit(self, *args: Any) -> Any:
        raise self.refusal


async def answer(refusal: Exception, accept: str | None = None) -> tuple[int, dict[str, str], Any]:
    view = GraphQLView(Engine(graphql_schema(schema)), lambda request, caller: None, "",
                       policy=Refusing(refusal))  # type: ignore[arg-type]
    headers = {"accept": accept} if accept else {}
    response = await view(json_post(b'{"query": "{ __typename }"}', **headers))
    assert isinstance(response, Response)
    return response.status_code, dict(response.headers), orjson.loads(response.body)


def parse_failure() -> InvalidDocument:
    return InvalidDocument((GraphQLError("Syntax Error: Expected Name, found <EOF>."),),
                           "GRAPHQL_PARSE_FAILED")


def limit_refusal() -> InvalidDocument:
    return InvalidDocument((too_complex("Too deep.", "maxDepth", 4, 5),
                            GraphQLError("Cannot query field 'nope' on type 'Symbol'.")),
                           "GRAPHQL_VALIDATION_FAILED")


@pytest.mark.parametrize(("accept", "status"), [(None, 200), (GRAPHQL_RESPONSE, 400)])
async def test_a_document_that_does_not_parse_answers_by_media_type(accept: str | None,
                                                                    status: int) -> None:
    got, headers, body = await answer(parse_failure(), accept)
    assert got == status
    assert headers["cache-control"] == "private, no-store"
    assert headers["content-type"] == f"{accept or JSON}; charset=utf-8"
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_PARSE_FAILED"]


@pytest.mark.parametrize("accept", [None, GRAPHQL_RESPONSE])
async def test_a_tier_limit_answers_400_whatever_the_media_type(accept: str | None) -> None:
    got, _, body = await answer(limit_refusal(), accept)
    assert got == 400
    # QUERY_TOO_COMPLEX keeps its code; the other errors are validation failures.
    assert [e["extensions"]["code"] for e in body["errors"]] == [
        "QUERY_TOO_COMPLEX", "GRAPHQL_VALIDATION_FAILED"]


def test_document_errors_render_the_same_as_the_view() -> None:
    response = document_errors(parse_failure(), JSON)
    assert response.status_code == 200
    assert orjson.loads(response.body)["errors"][0]["message"].startswith("Syntax Error")


@pytest.mark.parametrize(("accept", "status"), [(None, 200), (GRAPHQL_RESPONSE, 404)])
async def test_an_unknown_persisted_query_is_4xx_only_under_graphql_response(
        accept: str | None, status: int) -> None:
    got, _, body = await answer(PersistedQueryNotFound(), accept)
    assert got == status
    assert body == {"errors": [{"message": "PersistedQueryNotFound",
                                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}


async def test_request_errors_keep_their_status_and_headers() -> None:
    got, headers, body = await answer(RequestError("GET requests may only run queries.",
                                                   status=405, headers={"Allow": "POST"}))
    assert (got, headers["allow"]) == (405, "POST")
    assert body["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_refusals_carry_retry_after() -> None:
    got, headers, body = await answer(RateLimited("slow down", retry_after=3))
    assert (got, headers["retry-after"]) == (429, "3")
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_nothing_acceptable_is_406_before_the_policy_runs() -> None:
    got, _, body = await answer(AssertionError("the policy must not run"), "text/html")
    assert got == 406 and body["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}
