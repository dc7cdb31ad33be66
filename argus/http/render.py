"""Rendering answers: orjson bodies, GraphQL errors as the contract shows them, and which
error of a result decides the status.

Every answer of the HTTP layer (``/graphql``, REST, health) is rendered by ``render``; the
GraphQL view's error bodies (``errors_response``) carry ``Cache-Control: private, no-store``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.responses import Response

from argus.errors import (
    ArgusError,
    QueryTooComplex,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)
from argus.policy.policy import InvalidDocument

# The view's logger, as before rendering had a module of its own.
log = logging.getLogger("argus.view")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
#: Request-level errors in the order they decide the status when several occur.
_REQUEST_LEVEL: tuple[type[ArgusError], ...] = (
    Unauthenticated, QueryTooComplex, RateLimited, ServiceUnavailable,
)


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


def errors_response(errors: list[dict[str, Any]], status: int, media_type: str,
                    headers: Mapping[str, str] | None = None) -> Response:
    """``{"errors": [...]}``, never stored by a cache."""
    return render({"errors": errors}, status, media_type,
                  {"Cache-Control": "private, no-store", **(headers or {})})


def document_errors(refused: InvalidDocument, media_type: str) -> Response:
    """A document that did not parse or validate: 200 under ``application/json``, 400 under
    ``application/graphql-response+json``; 400 whatever the media type when a tier limit
    refused it."""
    status = 400 if refused.too_complex or media_type == GRAPHQL_RESPONSE else 200
    return errors_response(document_error_list(refused), status, media_type)


def document_error_list(refused: InvalidDocument) -> list[dict[str, Any]]:
    """The errors of a refused document: those of a tier limit keep ``QUERY_TOO_COMPLEX``,
    the others get ``refused.code``."""
    formatted = []
    for invalid in refused.errors:
        error = format_error(invalid)
        if not isinstance(invalid.original_error, QueryTooComplex):
            error["extensions"]["code"] = refused.code
        formatted.append(error)
    return formatted
