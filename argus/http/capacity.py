"""In-flight caps: requests past ``max_requests`` are shed with 503, streams under their own cap.

Why our own counter and not uvicorn's ``limit_concurrency``: uvicorn counts open
*connections* as well as tasks, so 300 idle keep-alive sockets would make it shed every new
request; here only work under way counts. A shed request gets a whole answer (503
``SERVICE_UNAVAILABLE`` with ``Retry-After``), never a reset connection.

Long-lived streams (WebSocket subscriptions, and GraphQL-over-SSE: ``Accept:
text/event-stream``) are counted apart under ``max_streams``: a few hundred open
subscriptions must not use up the request cap, nor requests starve streams. They are also
outside the per-request deadline (it wraps the work of ``view``/``rest`` only) and the
idle and header timeouts (``argus.http.server``: the header timer stops once headers are in, and
uvicorn's keep-alive timer only runs between responses), so a stream lives as long as its
client reads it.

One event loop per process, so a plain integer is the counter: no lock.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from argus.errors import ServiceUnavailable

_EVENT_STREAM = b"text/event-stream"


def is_stream(scope: Scope) -> bool:
    if scope["type"] == "websocket":
        return True
    return any(name == b"accept" and _EVENT_STREAM in value for name, value in scope["headers"])


class CapacityMiddleware:
    """``max_requests`` / ``max_streams`` in flight per process; 0 turns a cap off."""

    def __init__(self, app: ASGIApp, *, max_requests: int, max_streams: int,
                 retry_after: int) -> None:
        if max_requests < 0 or max_streams < 0:
            raise ValueError("capacity caps must be 0 (off) or positive")
        self.app = app
        self.max_requests = max_requests
        self.max_streams = max_streams
        self.retry_after = retry_after
        self.requests = 0
        self.streams = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if is_stream(scope):
            if self.max_streams and self.streams >= self.max_streams:
                await self._shed(scope, receive, send, "streams")
                return
            self.streams += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.streams -= 1
            return
        if self.max_requests and self.requests >= self.max_requests:
            await self._shed(scope, receive, send, "requests")
            return
        self.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.requests -= 1

    async def _shed(self, scope: Scope, receive: Receive, send: Send, what: str) -> None:
        error = ServiceUnavailable(f"The server is at its limit of concurrent {what}. Retry shortly.",
                                   retry_after=self.retry_after)
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1013, "reason": "try again later"})
            return
        body: dict[str, Any]
        if scope["path"].startswith("/api/"):  # the REST route's error shape
            body = {"error": {"code": error.code, "message": error.message}}
        else:
            body = {"errors": [{"message": error.message, "extensions": error.as_extensions()}]}
        payload = orjson.dumps(body)
        await send({"type": "http.response.start", "status": error.status, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"retry-after", str(error.retry_after).encode()),
            (b"cache-control", b"private, no-store"),
        ]})
        await send({"type": "http.response.body", "body": payload})
