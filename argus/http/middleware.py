"""The HTTP surface's middleware: header size, CORS for the API routes, security headers.

Each is a plain ASGI class ``XMiddleware(app, **options)`` that checks its options when
built and passes non-HTTP scopes straight through; ``argus.http.app`` lists the stack once.
They run on every request, so each does a few comparisons and no allocation it can skip.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from argus.errors import ConfigurationError
from argus.settings import is_origin

#: Request headers a browser on an allowed origin may send, and response headers its
#: scripts may read (the budget's, and ``Retry-After`` of a 429 or 503).
CORS_ALLOW_HEADERS = ("Authorization", "X-API-Key", "Content-Type")
CORS_EXPOSE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After")

#: What the GraphiQL page may load: its own origin only, plus what the vendored bundle
#: needs, checked in chromium (``tests/browser``): ``data:`` fonts and images (inlined in
#: graphiql.min.css; a refused font is a CSP violation). No ``'unsafe-eval'``: the bundle's
#: one ``new Function('return this')`` runs only where ``globalThis`` is missing, and no
#: ``'unsafe-inline'``: React and CodeMirror set styles through the DOM, which CSP allows.
GRAPHIQL_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
                "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

NOSNIFF = (b"x-content-type-options", b"nosniff")
_HTML_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", GRAPHIQL_CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
)


def header_limit_refusal(path: str, size: int, max_bytes: int,
                         *, at_least: bool = False) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The 431's body and headers, for ``HeaderLimitMiddleware`` and for
    ``argus.http.server``'s protocol, which refuses a head still arriving (``at_least`` bytes)."""
    message = (f"The request line and headers are {'at least ' if at_least else ''}{size} "
               f"bytes; at most {max_bytes} are accepted (ARGUS_MAX_HEADER_BYTES).")
    error = {"code": "BAD_REQUEST", "message": message}
    # The REST route's error shape is its own (docs/contract/clarifications.md §9).
    body = orjson.dumps({"error": error} if path.startswith("/api/")
                        else {"errors": [{"message": message,
                                          "extensions": {"code": "BAD_REQUEST"}}]})
    return body, [(b"content-type", b"application/json"),
                  (b"content-length", str(len(body)).encode()),
                  (b"cache-control", b"private, no-store"), (b"connection", b"close")]


class HeaderLimitMiddleware:
    """Answer 431 when the request line and headers pass ``max_bytes``.

    uvicorn's httptools parser has no header limit, so the bytes are counted here, as the
    sum h11 and nginx bound: the target, and each name and value (plus ``: `` and CRLF).
    h11 would bound them while reading, but it parses a request many times slower than
    httptools, a large share of a small answer (README, Benchmarks); this count costs
    little. ``argus serve`` also refuses a head while it is still
    arriving (``argus.http.server``), so a huge header is never held; this exact count stays for
    a head that arrived in one read and for the app served by any other ASGI server.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = 16 * 1024) -> None:
        if not isinstance(max_bytes, int) or max_bytes < 1_024:
            raise ConfigurationError("HeaderLimitMiddleware: max_bytes must be an int >= 1024")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
        if size > self.max_bytes:
            body, headers = header_limit_refusal(scope.get("path", ""), size, self.max_bytes)
            await send({"type": "http.response.start", "status": 431, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class ApiCORSMiddleware:
    """Starlette's ``CORSMiddleware`` for the API routes only (``paths``, by prefix), for
    browsers on ``origins``; other paths (health, GraphiQL's assets) stay same-origin."""

    def __init__(self, app: ASGIApp, origins: Sequence[str],
                 paths: Sequence[str] = ("/graphql", "/api/")) -> None:
        bad = [o for o in origins if not is_origin(o)]
        if bad or not origins:
            raise ConfigurationError(f"ApiCORSMiddleware: not origins: {bad or 'none given'}")
        self.app = app
        self.paths = tuple(paths)
        self.cors = CORSMiddleware(
            app, allow_origins=list(origins), allow_methods=["GET", "POST"],
            allow_headers=list(CORS_ALLOW_HEADERS), expose_headers=list(CORS_EXPOSE_HEADERS),
            allow_credentials=False, max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.paths):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` on every response; on HTML (the GraphiQL page),
    ``X-Frame-Options: DENY`` and a Content-Security-Policy of the server's own origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), NOSNIFF]
                for name, value in headers:
                    if name == b"content-type":  # Starlette writes names in lower case
                        if value.startswith(b"text/html"):
                            headers.extend(_HTML_HEADERS)
                        break
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
