"""GraphQL over HTTP: our own view, because request-level errors decide the status.

Strawberry's stock view answers every result with 200; ``docs/contract/clarifications.md``
§6 asks for 401 / 400 / 429 / 503 by the request-level error, 200 for field errors. So the
view reads the request (``http.request``), has the tier policy admit it (``Policy.admit``:
authenticate, parse, limits, budget), executes it on the engine (``graphql.engine``: a
compiled fast path for hot shapes, else graphql-core on Strawberry's schema), and renders
the result (``http.render``: unexpected errors masked, orjson).

* ``application/json`` (default): parse and validation failures answer 200.
* ``application/graphql-response+json`` (when the client accepts it): they answer 400, as
  the GraphQL-over-HTTP spec asks.
* ``POST`` with ``Accept: text/event-stream``: GraphQL over SSE, distinct connections mode
  (``docs/contract/clarifications.md`` §16; ``http.subscriptions``). A refusal answers as a
  JSON request does (401, 400, 429, 503); once admitted, the answer is a stream of
  ``next`` events and a ``complete``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from argus.errors import ArgusError, RequestError
from argus.graphql.engine import Engine
from argus.http.capacity import is_stream
from argus.http.deadline import RequestBounds
from argus.http.render import (
    GRAPHQL_RESPONSE,
    JSON,
    document_errors,
    error_headers,
    errors_response,
    format_error,
    render,
    request_level_error,
)
from argus.http.request import GraphQLRequest, response_media_type, wants_graphiql
from argus.http.subscriptions import SSE_HEADERS, StreamOperations, sse_events
from argus.policy.auth import Caller
from argus.policy.policy import InvalidDocument, Policy, refusal_headers


class GraphQLView:
    """The ``/graphql`` endpoint. ``make_context(request, caller)`` builds the context."""

    def __init__(self, engine: Engine, make_context: Callable[[Request, Caller], Any],
                 graphiql_page: str, *, policy: Policy,
                 streams: StreamOperations | None = None) -> None:
        self.engine = engine
        self.streams = streams
        self.make_context = make_context
        self.graphiql_page = graphiql_page
        self.policy = policy
        #: The deadline and the gate of every request (shared with the REST route).
        self.bounds = RequestBounds(policy.settings)

    async def __call__(self, request: Request) -> Response:
        if wants_graphiql(request):
            return FileResponse(self.graphiql_page, media_type="text/html")
        streaming = (self.streams is not None and request.method == "POST"
                     and is_stream(request.scope))
        media_type = JSON if streaming else response_media_type(request)
        if media_type is None:
            return errors_response([{"message": "Not acceptable: accept application/json or "
                                     f"{GRAPHQL_RESPONSE}.", "extensions": {"code": "BAD_REQUEST"}}],
                                   406, JSON)
        try:
            gql = await GraphQLRequest.from_http(request, self.policy.settings.max_body_bytes)
            async with self.bounds():
                if streaming:
                    return await self._stream(request, gql)
                return await self._run(request, gql, media_type)
        except InvalidDocument as exc:
            return document_errors(exc, media_type)
        except RequestError as exc:
            return errors_response([{"message": exc.message, "extensions": {"code": "BAD_REQUEST"}}],
                                   exc.status, media_type, exc.headers)
        except ArgusError as exc:  # refused by the tier policy: 401, 400, 429, 503, APQ
            status = exc.status
            if status == 200 and media_type == GRAPHQL_RESPONSE:
                # An answer without `data` MUST be 4xx under graphql-response+json; Apollo's
                # persisted-query link retries a 404 as it does a 200 (Apollo Server's own).
                status = 404
            return errors_response([{"message": exc.message, "extensions": exc.as_extensions()}],
                                   status, media_type, {**error_headers(exc), **refusal_headers(exc)})

    async def _stream(self, request: Request, gql: GraphQLRequest) -> Response:
        """Admitted within the request's bounds; the stream itself outlives them."""
        assert self.streams is not None
        results = await self.streams.start(request, gql.query, gql.extensions, gql.variables,
                                           gql.operation_name)
        return StreamingResponse(sse_events(results, self.policy.settings.sse_keepalive),
                                 media_type="text/event-stream",
                                 headers=SSE_HEADERS)

    async def _run(self, request: Request, gql: GraphQLRequest, media_type: str) -> Response:
        policy = self.policy
        admitted = await policy.admit(request, gql.query, gql.extensions, gql.variables,
                                      gql.operation_name, gql.method)
        caller, charge = admitted.caller, admitted.charge
        context = self.make_context(request, caller)
        result = await self.engine.execute(admitted.document, context, gql.variables,
                                           gql.operation_name,
                                           hide_suggestions=not caller.tier.suggestions)
        failure = request_level_error(result.errors)
        if failure is not None:
            return errors_response([{"message": failure.message,
                                     "extensions": failure.as_extensions()}],
                                   failure.status, media_type,
                                   {**error_headers(failure), **policy.headers(0, True, charge)})
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [format_error(e) for e in result.errors]
        body["data"] = result.data
        max_age = 0 if result.errors else policy.max_age(caller, admitted.document,
                                                         admitted.operation)
        headers = policy.headers(max_age, bool(result.errors), charge)
        body["extensions"] = {"cost": policy.cost_extension(admitted.validation.cost, charge,
                                                            max_age > 0)}
        if (result.data is None and result.errors and media_type == GRAPHQL_RESPONSE
                and all(e.path is None for e in result.errors)):
            # Variable coercion failures: the request was invalid, not the data.
            return render(body, 400, media_type, headers)
        return render(body, 200, media_type, headers)
