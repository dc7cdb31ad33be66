"""The ASGI application: routes, the per-request context, start-up and shut-down.

Routes (``docs/contract/api.md``): ``/graphql`` (POST, GET, GraphiQL; a WebSocket for
subscriptions, and SSE on POST with ``Accept: text/event-stream``), ``/api/intelligence/{symbol}``,
``/healthz``, ``/readyz``, ``/dashboard`` (a live regime table, ``static/dashboard``) and
the vendored GraphiQL and dashboard assets under ``/static``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from argus.data import events
from argus.data.loaders import IntelligenceBySymbolLoader
from argus.data.store import Store, create_client
from argus.errors import ServiceUnavailable
from argus.graphql import _strawberry_compat as strawberry_compat
from argus.graphql.engine import Engine
from argus.graphql.schema import schema
from argus.graphql.types import RegimeChange
from argus.http import rest
from argus.http.capacity import CapacityMiddleware
from argus.http.context import Context
from argus.http.middleware import ApiCORSMiddleware, HeaderLimitMiddleware, SecurityHeadersMiddleware
from argus.http.render import render
from argus.http.subscriptions import StreamOperations
from argus.http.view import GraphQLView
from argus.http.websocket import GraphQLWebSocketEndpoint
from argus.policy.auth import Caller
from argus.policy.policy import Policy
from argus.settings import Settings
from argus.symbols import Normalizer, Universe

log = logging.getLogger("argus.app")
STATIC = Path(__file__).resolve().parent / "static"


class Runtime:
    """What lives as long as the process: the Redis client, store, and cached universe."""

    def __init__(self, settings: Settings, client: aioredis.Redis,
                 clock: Callable[[], float] = time.time,
                 reader_client: Callable[[], aioredis.Redis] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.store = Store(client, settings)
        self.normalizer = Normalizer.from_settings(settings)
        # The reader's own client: its XREAD BLOCK outlasts a command timeout.
        self.events = events.EventFeed(settings, client, reader_client or (lambda: create_client(
            settings, socket_timeout=events.BLOCK_MS / 1000 + 2 * settings.redis_timeout,
            max_connections=1)))

    def context(self, caller: Caller | None = None) -> Context:
        return Context(self.settings, self.store, self.normalizer, caller=caller, clock=self.clock,
                       events=self.events)

    def event_context(self, caller: Caller, payload: object) -> Context:
        """The context of one subscription event: every execution of the changes read
        together (one XREAD) shares one loader, so their ``symbol { ... }`` selections load
        in one batch, once."""
        shared = RegimeChange.page_of(payload)
        if shared is None:
            return self.context(caller)
        loader = shared.get("intelligence")
        if loader is None:
            loader = shared["intelligence"] = IntelligenceBySymbolLoader(
                self.store, self.settings, self.clock)
        return Context(self.settings, self.store, self.normalizer, caller=caller, clock=self.clock,
                       events=self.events, loader=loader)

    async def refresh_universe(self) -> None:
        """Reload ``argus:symbols`` (crypto bases, equity overrides); keep the old on failure."""
        try:
            entries = await self.store.universe()
        except ServiceUnavailable:
            return
        self.normalizer = self.normalizer.with_universe(Universe.from_mapping(entries))

    async def keep_universe_fresh(self) -> None:
        while True:
            await asyncio.sleep(self.settings.universe_refresh)
            await self.refresh_universe()


def create_app(settings: Settings, *, redis_client: aioredis.Redis | None = None,
               reader_client: Callable[[], aioredis.Redis] | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    """``redis_client``: the app's pool (default: one for ``settings.redis_url``);
    ``reader_client`` makes the events reader's own client (default: one for
    ``settings.redis_url`` whose read timeout outlasts ``XREAD BLOCK``). An app given a
    client of another server (``argus demo``'s fakeredis) must be given a reader of it too."""
    owns_client = redis_client is None
    client = redis_client if redis_client is not None else create_client(settings)
    runtime = Runtime(settings, client, clock, reader_client)
    # One engine per app: its parse and compiled-shape caches are this app's alone.
    engine = Engine(strawberry_compat.graphql_schema(schema), cache_bytes=settings.cache_bytes)
    policy = Policy(settings, client, engine)
    operations = StreamOperations(policy, engine, lambda conn, caller: runtime.context(caller),
                                  lambda conn, caller, payload: runtime.event_context(caller, payload))
    view = GraphQLView(engine, lambda request, caller: runtime.context(caller),
                       str(STATIC / "graphiql" / "index.html"), policy=policy,
                       streams=operations)

    async def graphql(request: Request) -> Response:
        return await view(request)

    async def intelligence(request: Request) -> Response:
        return await rest.intelligence(request, runtime.context, policy, view.bounds)

    async def dashboard(request: Request) -> Response:
        # A static page: its data comes from /graphql, under the caller's own credentials.
        return FileResponse(STATIC / "dashboard" / "index.html", media_type="text/html")

    async def healthz(request: Request) -> Response:
        return render({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await asyncio.wait_for(runtime.store.ping(), settings.redis_timeout * 2)
        except (ServiceUnavailable, TimeoutError):
            return render({"status": "unavailable", "redis": "unreachable"}, 503,
                          headers={"Retry-After": str(settings.retry_after)})
        return render({"status": "ready", "redis": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.refresh_universe()
        refresher = asyncio.create_task(runtime.keep_universe_fresh())
        trimmer = asyncio.create_task(keep_heap_trimmed(settings.heap_trim_interval))
        try:
            yield
        finally:
            for task in (refresher, trimmer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.events.close()  # open subscriptions end with SERVICE_UNAVAILABLE
            if owns_client:
                await client.aclose()

    # The stack, outermost first: every answer (a shed 503 included) gets the security
    # headers; past the in-flight cap a request is shed before any other work
    # (argus.http.capacity); a 431 is decided next; CORS (only with ARGUS_CORS_ORIGINS) wraps the
    # routes.
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(CapacityMiddleware, max_requests=settings.max_concurrent_requests,
                   max_streams=settings.max_streams, retry_after=settings.retry_after),
        Middleware(HeaderLimitMiddleware, max_bytes=settings.max_header_bytes),
    ]
    if settings.cors_origins:
        middleware.append(Middleware(ApiCORSMiddleware, origins=settings.cors_origins))
    app = Starlette(
        debug=settings.debug,
        middleware=middleware,
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", GraphQLWebSocketEndpoint(operations, settings, view.bounds)),
            Route("/api/intelligence/{symbol:path}", intelligence, methods=["GET"]),
            Route("/dashboard", dashboard, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={Exception: _masked},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.engine = engine  # its compiled-path switches, for the tests that compare paths
    app.state.view = view  # its caches, for the tests that bound their bytes
    return app


def malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: trim(0)


async def keep_heap_trimmed(interval: float) -> None:
    """Every ``interval`` seconds, hand freed heap pages back to the OS.

    A large answer (an Apex batch) or a refused large document frees its objects, but glibc
    keeps the pages in its heap wherever a live allocation sits above them, so resident
    memory climbs to the highest concurrent load it has ever seen and stays there.
    ``malloc_trim`` releases the free pages in the middle of the heap too (madvise).
    """
    trim = malloc_trim() if interval > 0 else None
    if trim is None:
        return
    while True:
        await asyncio.sleep(interval)
        trim()


def settle_heap(settings: Settings) -> None:
    """Call once the app is built, before serving: the start-up heap (modules, schema) moves
    out of the collector's reach (otherwise every full collection walks it, which shows in
    the p99 of large queries), and young collections wait for ``settings.gc_threshold``."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(settings.gc_threshold, older, oldest)


async def _masked(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return render({"errors": [{"message": "Internal server error.",
                               "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}, 500,
                  # Starlette sends this answer outside the middleware stack.
                  headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
