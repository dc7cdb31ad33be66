"""One GraphQL operation over a stream (a WebSocket operation, an SSE response): admitted by
the tier policy, run on the engine, its results formatted as the HTTP view formats them.

Both transports (``http.websocket``: graphql-transport-ws; ``http.view``: GraphQL over SSE,
"distinct connections" mode, ``docs/contract/clarifications.md`` §16) start an operation
here, so both apply the same policy in the same order (``Policy.admit(conn, ...,
stream=True)``: authenticate, judge with the tier's limits, charge once) and differ only in
how they frame what comes out. A subscription is charged its cost once, when admitted.

``start`` raises the refusal (``ArgusError``, ``InvalidDocument``) before any result, and
so does a request-level error of the source stream (SERVICE_UNAVAILABLE: Redis down, the
server's subscription cap; the SSE answer is then a 503, as a query's is); other errors of
the source stream (BAD_USER_INPUT: a bad symbol or ``after``) come as the one result of the
stream. A query or a subscription's events are results, ``{"errors": [...], "data": ...}``,
given as their JSON bytes (``encoded``) in lists of those finished together (a writer
batch's changes), which each transport frames as it must: a message each over WebSocket,
one write of all their events over SSE.
Subscribers of one change that sent the same document and variables share its one
execution and its one encoding (``Engine.subscribe(shared=...)``), and any that did not
still share its loader (``Runtime.event_context``): a hundred dashboards on one symbol cost
one execution and one ``orjson.dumps``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
from graphql import ExecutionResult, OperationType
from starlette.requests import HTTPConnection

from argus.graphql.engine import Engine
from argus.graphql.types import RegimeChange
from argus.http.render import format_error, request_level_error
from argus.policy.auth import Caller
from argus.policy.policy import Policy

#: A result as the JSON text both transports send (``encoded``).
Result = bytes


def encoded(result: ExecutionResult) -> Result:
    """``{"errors": [...], "data": ...}`` (``errors`` only when there are some), as JSON."""
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [format_error(e) for e in result.errors]
    body["data"] = result.data
    return orjson.dumps(body)


class StreamOperations:
    """Starts operations of streams: ``make_context(conn, caller)`` builds a context, and
    ``event_context(conn, caller, payload)`` the context of one subscription event."""

    def __init__(self, policy: Policy, engine: Engine,
                 make_context: Callable[[HTTPConnection, Caller], Any],
                 event_context: Callable[[HTTPConnection, Caller, Any], Any]) -> None:
        self.policy = policy
        self.engine = engine
        self.make_context = make_context
        self.event_context = event_context

    async def start(self, conn: HTTPConnection, query: str | None,
                    extensions: dict[str, Any] | None, variables: Mapping[str, Any] | None,
                    operation_name: str | None) -> AsyncIterator[list[Result]]:
        admitted = await self.policy.admit(conn, query, extensions, variables, operation_name,
                                           stream=True)
        caller = admitted.caller
        hide = not caller.tier.suggestions
        values = dict(variables) if variables is not None else None
        operation = admitted.operation
        outcome: ExecutionResult | AsyncIterator[list[Result]]
        if operation is not None and operation.operation is OperationType.SUBSCRIPTION:
            outcome = await self.engine.subscribe(
                admitted.document, self.make_context(conn, caller), values, operation_name,
                event_context=lambda payload: self.event_context(conn, caller, payload),
                encode=encoded, shared=RegimeChange.shared_of, hide_suggestions=hide)
        else:
            outcome = await self.engine.execute(admitted.document,
                                                self.make_context(conn, caller), values,
                                                operation_name, hide_suggestions=hide)
        if isinstance(outcome, ExecutionResult):
            failure = request_level_error(outcome.errors)
            if failure is not None:
                raise failure
            return _once(encoded(outcome))
        return outcome


async def _once(result: Result) -> AsyncIterator[list[Result]]:
    yield [result]


async def sse_events(results: AsyncIterator[list[Result]],
                     keepalive: float) -> AsyncIterator[bytes]:
    """GraphQL over SSE, distinct connections mode: ``event: next`` per result, then
    ``event: complete``; a ``: keep-alive`` comment after ``keepalive`` seconds without one.
    The results finished together go out as one chunk (one socket write for a burst, not
    one per change). Leaving early (the client went away) closes the results, which
    unsubscribes."""
    pending: asyncio.Future[list[Result]] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(results))
            done, _ = await asyncio.wait((pending,), timeout=keepalive)
            if not done:
                yield b": keep-alive\n\n"
                continue
            finished, pending = pending, None
            try:
                batch = finished.result()
            except StopAsyncIteration:
                break
            yield b"".join([b"event: next\ndata: " + result + b"\n\n" for result in batch])
        yield b"event: complete\ndata:\n\n"
    finally:
        if pending is not None:  # the results must not be running while they are closed
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await results.aclose()  # type: ignore[attr-defined]


#: The headers of an SSE answer: never cached or buffered by a proxy.
SSE_HEADERS = {"Cache-Control": "private, no-store", "X-Accel-Buffering": "no"}
