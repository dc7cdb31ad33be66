"""Errors users can see, and the translation of driver errors into them.

Every error Argus shows a caller has a stable ``code`` (the GraphQL
``extensions.code``), a message and an HTTP status::

    ArgusError                                                      (base; INTERNAL_SERVER_ERROR 500)
    ├── ConfigurationError        CONFIGURATION_ERROR        settings that cannot work (start-up only)
    ├── RequestError              BAD_REQUEST           400  not GraphQL over HTTP (413, 414, 405 too)
    ├── BadUserInput              BAD_USER_INPUT        400  (200 as a GraphQL field error)
    │   └── InvalidSymbol                                    a symbol that fails normalization
    ├── NotFound                  NOT_FOUND             404  (200 as a GraphQL field error)
    ├── Unauthenticated           UNAUTHENTICATED       401
    ├── QueryTooComplex           QUERY_TOO_COMPLEX     400
    ├── RateLimited               RATE_LIMITED          429  + Retry-After
    │   └── BudgetSpent (policy.budget)                      + the RateLimit headers of the budget
    ├── ServiceUnavailable        SERVICE_UNAVAILABLE   503  + Retry-After
    ├── SlowSubscriber            SLOW_SUBSCRIBER            a subscriber that fell a queue behind
    ├── PersistedQueryNotFound    PERSISTED_QUERY_NOT_FOUND  200 (404 under graphql-response+json)
    ├── PersistedQueryError       BAD_REQUEST           400  (APQ: a bad version, hash or size)
    └── DataSourceError           DATA_SOURCE_ERROR     400  ClickHouse / input data (writer)
        └── MalformedInput                                   a file ``argus data import`` cannot read

``BudgetSpent`` stays beside the budget: it carries the budget's ``Charge``, and this module
imports nothing of Argus. Two exceptions are control flow, never shown to a caller, and so
not in the tree: ``graphql.selection.TooManySelections`` (``policy.limits`` answers it with
``QueryTooComplex``) and ``graphql.compiled._Unsupported`` (graphql-core answers instead).
``policy.policy.InvalidDocument`` is not in it either: it carries graphql-core's errors of a
document that does not parse or validate, which the view renders as GraphQL errors
(``GRAPHQL_PARSE_FAILED``, ``GRAPHQL_VALIDATION_FAILED``; 200 or 400 by the media type).

Redis, ClickHouse and JWT errors are translated where they enter Argus
(``map_redis_errors``), so nothing above the store sees a driver exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, ClassVar


class ArgusError(Exception):
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    status: int = 500

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions

    def as_extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.extensions}


class ConfigurationError(ArgusError):
    code = "CONFIGURATION_ERROR"


class RequestError(ArgusError):
    """A request that is not well-formed GraphQL-over-HTTP (400 whatever the media type)."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, status: int = 400,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


class BadUserInput(ArgusError):
    code = "BAD_USER_INPUT"
    status = 400


class InvalidSymbol(BadUserInput):
    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"Invalid symbol {raw!r}: {reason}.", symbol=raw)


class NotFound(ArgusError):
    code = "NOT_FOUND"
    status = 404


class Unauthenticated(ArgusError):
    code = "UNAUTHENTICATED"
    status = 401


class QueryTooComplex(ArgusError):
    code = "QUERY_TOO_COMPLEX"
    status = 400


class RateLimited(ArgusError):
    code = "RATE_LIMITED"
    status = 429

    def __init__(self, message: str, retry_after: int, **extensions: Any) -> None:
        super().__init__(message, **extensions)
        self.retry_after = retry_after


class ServiceUnavailable(ArgusError):
    code = "SERVICE_UNAVAILABLE"
    status = 503

    def __init__(self, message: str = "The intelligence store is unavailable. Retry shortly.",
                 retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SlowSubscriber(ArgusError):
    """A subscription whose client did not take its events as fast as they came: it is ended
    (its queue is bounded) with the id of the last event it got, to resume ``after``."""

    code = "SLOW_SUBSCRIBER"
    status = 200

    def __init__(self, queued: int, resume_after: str | None) -> None:
        super().__init__(f"The subscriber fell {queued} events behind and was dropped; "
                         "subscribe again with `after` to resume without a gap.",
                         resumeAfter=resume_after)


class PersistedQueryNotFound(ArgusError):
    code = "PERSISTED_QUERY_NOT_FOUND"
    status = 200

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryError(ArgusError):
    code = "BAD_REQUEST"
    status = 400


class DataSourceError(ArgusError):
    code = "DATA_SOURCE_ERROR"
    status = 400


class MalformedInput(DataSourceError):
    """A file that cannot be imported; the message names the file and the line."""


def symbol_not_found(symbol: str) -> NotFound:
    return NotFound(f"No intelligence for symbol {symbol!r}.", symbol=symbol)


def closed_transport(exc: BaseException) -> bool:
    """uvloop's error for a write to a transport it has closed (a connection the peer
    reset): redis-py lets it through untranslated (it maps only OSError and timeouts)."""
    return isinstance(exc, RuntimeError) and str(exc).endswith("the handler is closed")


class map_redis_errors:
    """Translate redis-py's connection and timeout failures into ``ServiceUnavailable``.

    A class, not ``@contextmanager``: a generator per use costs every request twice.
    """

    __slots__ = ("retry_after",)

    def __init__(self, retry_after: int = 5) -> None:
        self.retry_after = retry_after

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc is None:
            return
        import redis.exceptions as rex

        # BusyLoadingError is a ConnectionError; asyncio.TimeoutError is TimeoutError, an
        # OSError; InvalidResponse is a stream out of sync (hiredis on bytes that are not
        # RESP); EOFError is asyncio's IncompleteReadError, a reply cut short.
        if (isinstance(exc, rex.ConnectionError | rex.TimeoutError | rex.ClusterDownError
                       | rex.InvalidResponse | OSError | EOFError) or closed_transport(exc)):
            raise ServiceUnavailable(retry_after=self.retry_after) from exc
        # A reply error (e.g. LOADING, MASTERDOWN, READONLY) means Redis cannot serve us now.
        if isinstance(exc, rex.ResponseError) and str(exc).startswith(
                ("LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY")):
            raise ServiceUnavailable(retry_after=self.retry_after) from exc
