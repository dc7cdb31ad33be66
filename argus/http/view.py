"""GraphQL over HTTP: our own view, because request-level errors decide the status.

Strawberry's stock view answers every result with 200; ``docs/contract/clarifications.md``
§6 asks for 401 / 400 / 429 / 503 by the request-level error, 200 for field errors. So the view
authenticates, parses (cached), validates with the caller's tier limits (``policy``),
charges the budget, executes (a compiled fast path for hot shapes, else graphql-core on
Strawberry's schema), masks unexpected errors and renders with orjson.

* ``application/json`` (default): parse and validation failures answer 200.
* ``application/graphql-response+json`` (when the client accepts it): they answer 400, as
  the GraphQL-over-HTTP spec asks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from inspect import isawaitable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    execute,
    parse,
)
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from argus.data.bounded_cache import BoundedCache, document_bytes, memoize
from argus.errors import (
    ArgusError,
    QueryTooComplex,
    RateLimited,
    RequestError,
    ServiceUnavailable,
    Unauthenticated,
)
from argus.graphql import compiled
from argus.graphql.selection import operation_of
from argus.http.deadline import RequestBounds
from argus.policy.auth import Caller
from argus.policy.limits import parse_refusal, parse_tokens
from argus.policy.policy import Policy, refusal_headers

log = logging.getLogger("argus.view")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
#: Request-level errors in the order they decide the status when several occur.
_REQUEST_LEVEL: tuple[type[ArgusError], ...] = (
    Unauthenticated, QueryTooComplex, RateLimited, ServiceUnavailable,
)
#: Deepest nesting of arrays and objects accepted in ``variables`` and ``extensions``.
#: Deeper values would recurse in validation (Python's limit is 1,000) and past orjson's
#: own limits (1,024 to load, 255 to dump); no real variable comes near 64.
MAX_JSON_DEPTH = 64


def render(body: Any, status: int = 200, media_type: str = JSON,
           headers: Mapping[str, str] | None = None) -> Response:
    # The spec SHOULD: name the encoding (Starlette adds a charset to text/* types only).
    return Response(orjson.dumps(body), status_code=status, media_type=f"{media_type}; charset=utf-8",
                    headers=dict(headers or {}))


def format_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    if isinstance(original, ArgusError):
        message, extensions = original.message, original.as_extensions()
    elif original is not None and not isinstance(original, GraphQLError):
        log.error("unexpected error at %s", error.path, exc_info=original)
        message, extensions = "Internal server error.", {"code": "INTERNAL_SERVER_ERROR"}
    else:
        message = error.message
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", "BAD_USER_INPUT" if error.path is None else "INTERNAL_SERVER_ERROR")
    out: dict[str, Any] = {"message": message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = error.path
    out["extensions"] = extensions
    return out


def request_level_error(errors: list[GraphQLError] | None) -> ArgusError | None:
    found = [e.original_error for e in errors or () if isinstance(e.original_error, _REQUEST_LEVEL)]
    for kind in _REQUEST_LEVEL:
        for error in found:
            if isinstance(error, kind):
                return error
    return None


def error_headers(error: ArgusError | None) -> dict[str, str]:
    if isinstance(error, ServiceUnavailable | RateLimited):
        return {"Retry-After": str(error.retry_after)}
    return {}


class GraphQLRequest:
    __slots__ = ("extensions", "method", "operation_name", "query", "variables")

    def __init__(self, method: str, query: str | None, variables: dict[str, Any] | None,
                 operation_name: str | None, extensions: dict[str, Any] | None) -> None:
        self.method = method
        self.query = query
        self.variables = variables
        self.operation_name = operation_name
        self.extensions = extensions

    @classmethod
    async def from_http(cls, request: Request, max_body: int = 1_048_576) -> GraphQLRequest:
        if request.method in ("GET", "HEAD"):  # HEAD is GET without the body (uvicorn drops it)
            # httptools (``argus serve``) already answers 400 to a URL past 64 KiB; this
            # holds the query string to the body's limit under any other HTTP parser.
            if len(request.scope.get("query_string", b"")) > max_body:
                raise RequestError(f"The query string is longer than {max_body} bytes.", status=414)
            params = request.query_params
            return cls.from_mapping("GET", {
                "query": params.get("query"),
                "variables": _json_param(params.get("variables"), "variables"),
                "operationName": params.get("operationName"),
                "extensions": _json_param(params.get("extensions"), "extensions"),
            })
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        # A POST without a Content-Type is refused too (GraphQL-over-HTTP: SHOULD be a 4xx),
        # before its body is read.
        if content_type not in ("application/json", "application/graphql"):
            raise RequestError(f"Unsupported content type {content_type!r}; send application/json.",
                               status=415)
        body = await read_body(request, max_body)
        if content_type == "application/graphql":
            return cls("POST", body.decode("utf-8", "replace"), None, None, None)
        payload = loads(body, "The request body", "the request body")
        if isinstance(payload, list):
            raise RequestError("Batched requests are not supported.")
        if not isinstance(payload, dict):
            raise RequestError("The request body must be a JSON object.")
        return cls.from_mapping("POST", payload)

    @classmethod
    def from_mapping(cls, method: str, payload: Mapping[str, Any]) -> GraphQLRequest:
        query, variables = payload.get("query"), payload.get("variables")
        operation_name, extensions = payload.get("operationName"), payload.get("extensions")
        if query is not None and not isinstance(query, str):
            raise RequestError("'query' must be a string.")
        if variables is not None and not isinstance(variables, dict):
            raise RequestError("'variables' must be a JSON object.")
        if operation_name is not None and not isinstance(operation_name, str):
            raise RequestError("'operationName' must be a string.")
        if extensions is not None and not isinstance(extensions, dict):
            raise RequestError("'extensions' must be a JSON object.")
        for name, value in (("variables", variables), ("extensions", extensions)):
            if value and too_deep(value, MAX_JSON_DEPTH):
                raise nested_too_deep(f"'{name}'")
        return cls(method, query, variables, operation_name, extensions)


def loads(data: bytes | str, what: str, where: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):  # orjson's own, at 1,024
            raise nested_too_deep(where) from exc
        raise RequestError(f"{what} is not valid JSON.") from exc


def nested_too_deep(where: str) -> RequestError:
    # One line, no traceback: such requests are hostile, and each used to log 259 KB.
    log.warning("refused a request: %s nested deeper than %d", where, MAX_JSON_DEPTH)
    return RequestError(f"{where[0].upper()}{where[1:]} is nested deeper than {MAX_JSON_DEPTH} levels.")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to pass ``limit`` bytes: from its
    ``Content-Length`` before reading, or while reading (chunked), never after buffering."""
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def body_too_large(limit: int) -> RequestError:
    # The rest of the body stays unread: the connection cannot carry another request.
    return RequestError(f"The request body is larger than {limit} bytes.", status=413,
                        headers={"Connection": "close"})


def too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts deeper than ``limit``; iterative, so that
    what it refuses can never exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _json_param(value: str | None, name: str) -> Any:
    if value is None or value == "":
        return None
    return loads(value, f"The '{name}' parameter", f"'{name}'")


class Executor:
    """Parses with a cache, then executes on graphql-core (validation is the tier policy's)."""

    def __init__(self, schema: GraphQLSchema, cache_size: int = 1024,
                 max_tokens: int = 50_000, cache_bytes: int = 32 * 1_048_576) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        # Keyed by (query, max_tokens): a document refused at one tier's bound may parse
        # at a larger tier's, and the parser stops at the bound it was given.
        self.parse = memoize(self._parse, BoundedCache(cache_bytes, cache_size,
                                                               admit_on_reuse=True),
                             document_bytes, lambda parsed: isinstance(parsed, GraphQLError))

    def _parse(self, query: str, max_tokens: int | None = None) -> DocumentNode | GraphQLError:
        try:
            return parse(query, no_location=False, max_tokens=max_tokens or self.max_tokens)
        except GraphQLError as error:
            return error.with_traceback(None)  # its frames hold every token read (~28 MB)

    async def execute(self, document: DocumentNode, context: Any,
                      variables: dict[str, Any] | None,
                      operation_name: str | None, hide_suggestions: bool = False) -> ExecutionResult:
        result = execute(self.schema, document, context_value=context,
                         variable_values=variables, operation_name=operation_name,
                         hide_suggestions=hide_suggestions)
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        return result


#: What each media range of an ``Accept`` gets: ours, or ``application/json`` for wildcards.
_OFFERS = {GRAPHQL_RESPONSE: GRAPHQL_RESPONSE, JSON: JSON, "application/*": JSON, "*/*": JSON}


def response_media_type(request: Request) -> str | None:
    """The media type to answer in: the ``Accept``'s highest-weighted one we can send (the
    spec's MUST), ``application/graphql-response+json`` on a tie; ``application/json`` with
    no ``Accept`` (the graphql-http audit's SHOULD); ``None`` when it names nothing we can
    send, the spec's RECOMMENDED 406. A few lines instead of a library: only q matters."""
    best, best_q, named = None, 0.0, False
    for name, value in request.scope["headers"]:
        if name != b"accept":
            continue
        for media_range in value.decode("latin-1").split(","):
            media_type, *params = (p.strip().lower() for p in media_range.split(";"))
            named = named or bool(media_type)
            offer, q = _OFFERS.get(media_type), _weight(params)
            if offer is not None and q > 0 and (
                    q > best_q or (q == best_q and offer == GRAPHQL_RESPONSE)):
                best, best_q = offer, q
    return best if named else JSON


def _weight(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 1.0
    return 1.0


def wants_graphiql(request: Request) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    return "text/html" in request.headers.get("accept", "") and "query" not in request.query_params


class GraphQLView:
    """The ``/graphql`` endpoint. ``make_context(request, caller)`` builds the context."""

    def __init__(self, schema: GraphQLSchema, make_context: Callable[[Request, Caller], Any],
                 graphiql_page: str, *, policy: Policy) -> None:
        self.executor = Executor(schema, cache_bytes=policy.settings.cache_bytes)
        self.make_context = make_context
        self.graphiql_page = graphiql_page
        self.policy = policy
        #: The deadline and the gate of every request (shared with the REST route).
        self.bounds = RequestBounds(policy.settings)

    async def __call__(self, request: Request) -> Response:
        if wants_graphiql(request):
            return FileResponse(self.graphiql_page, media_type="text/html")
        media_type = response_media_type(request)
        if media_type is None:
            return self._errors([{"message": "Not acceptable: accept application/json or "
                                  f"{GRAPHQL_RESPONSE}.", "extensions": {"code": "BAD_REQUEST"}}],
                                406, JSON)
        try:
            gql = await GraphQLRequest.from_http(request, self.policy.settings.max_body_bytes)
            async with self.bounds():
                return await self._run(request, gql, media_type)
        except RequestError as exc:
            return self._errors([{"message": exc.message, "extensions": {"code": "BAD_REQUEST"}}],
                                exc.status, media_type, exc.headers)
        except ArgusError as exc:  # refused by the tier policy: 401, 400, 429, 503, APQ
            status = exc.status
            if status == 200 and media_type == GRAPHQL_RESPONSE:
                # An answer without `data` MUST be 4xx under graphql-response+json; Apollo's
                # persisted-query link retries a 404 as it does a 200 (Apollo Server's own).
                status = 404
            return self._errors([{"message": exc.message, "extensions": exc.as_extensions()}],
                                status, media_type, {**error_headers(exc), **refusal_headers(exc)})

    async def _run(self, request: Request, gql: GraphQLRequest, media_type: str) -> Response:
        policy = self.policy
        caller = await policy.authenticate(request)
        query, unregistered = await policy.persisted.resolve(gql.query, gql.extensions)
        if not query:
            raise RequestError("Missing 'query'.")
        # The parser stops at the caller's bound (§15), so a long document costs an
        # anonymous caller's refusal no more than 5,001 tokens of parsing.
        max_tokens = parse_tokens(caller.tier)
        document = self.executor.parse(query, max_tokens)
        if isinstance(document, GraphQLError):
            if f"more than {max_tokens} tokens" in document.message:
                raise parse_refusal(caller.tier, max_tokens)
            error = format_error(document)
            error["extensions"]["code"] = "GRAPHQL_PARSE_FAILED"
            return self._errors([error], 400 if media_type == GRAPHQL_RESPONSE else 200, media_type)
        # Judged from the parsed document, before validation: the schema has no Mutation or
        # Subscription type, so validation would answer 200 with an error for a GET mutation.
        operation = operation_of(document, gql.operation_name)
        if (gql.method == "GET" and operation is not None
                and operation.operation is not OperationType.QUERY):
            raise RequestError(f"GET requests may only run queries; send a "
                               f"{operation.operation.value} with POST.", status=405,
                               headers={"Allow": "POST"})
        validation = policy.validate(query, document, caller.tier, gql.variables)
        if validation.errors:
            # Tier limits keep QUERY_TOO_COMPLEX and answer 400 whatever the media type.
            too_complex = False
            formatted = []
            for invalid in validation.errors:
                error = format_error(invalid)
                if isinstance(invalid.original_error, QueryTooComplex):
                    too_complex = True
                else:
                    error["extensions"]["code"] = "GRAPHQL_VALIDATION_FAILED"
                formatted.append(error)
            return self._errors(formatted, 400 if too_complex or media_type == GRAPHQL_RESPONSE
                                else 200, media_type)
        charge = await policy.charge(caller, validation.cost)
        if unregistered is not None:  # parsed, validated and charged: now it may be stored
            await policy.persisted.register(unregistered, query)
        context = self.make_context(request, caller)
        # Hook: compiled fast path for hot query shapes (argus/graphql/compiled.py); None = graphql-core.
        result = (await compiled.execute(self.executor.schema, document, context, gql.variables,
                                         gql.operation_name)
                  or await self.executor.execute(document, context, gql.variables, gql.operation_name,
                                                 hide_suggestions=not caller.tier.suggestions))
        failure = request_level_error(result.errors)
        if failure is not None:
            return self._errors([{"message": failure.message, "extensions": failure.as_extensions()}],
                                failure.status, media_type,
                                {**error_headers(failure), **policy.headers(0, True, charge)})
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [format_error(e) for e in result.errors]
        body["data"] = result.data
        max_age = 0 if result.errors else policy.max_age(caller, document, operation)
        headers = policy.headers(max_age, bool(result.errors), charge)
        body["extensions"] = {"cost": policy.cost_extension(validation.cost, charge, max_age > 0)}
        if (result.data is None and result.errors and media_type == GRAPHQL_RESPONSE
                and all(e.path is None for e in result.errors)):
            # Variable coercion failures: the request was invalid, not the data.
            return render(body, 400, media_type, headers)
        return render(body, 200, media_type, headers)

    @staticmethod
    def _errors(errors: list[dict[str, Any]], status: int, media_type: str,
                headers: Mapping[str, str] | None = None) -> Response:
        return render({"errors": errors}, status, media_type,
                      {"Cache-Control": "private, no-store", **(headers or {})})
