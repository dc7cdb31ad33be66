"""Reading a GraphQL-over-HTTP request: its parameters (GET) or body (POST), bounded in
size and nesting, and the media type its ``Accept`` asks for.

Every refusal here is a ``RequestError`` (400, 405, 413, 414, 415), raised before any
policy step: a request that is not GraphQL over HTTP costs no authentication.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request

from argus.errors import RequestError
from argus.http.render import GRAPHQL_RESPONSE, JSON

# The view's logger, as before request parsing had a module of its own.
log = logging.getLogger("argus.view")

#: Deepest nesting of arrays and objects accepted in ``variables`` and ``extensions``.
#: Deeper values would recurse in validation (Python's limit is 1,000) and past orjson's
#: own limits (1,024 to load, 255 to dump); no real variable comes near 64.
MAX_JSON_DEPTH = 64


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
