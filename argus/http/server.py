"""uvicorn as ``argus serve`` runs it: timeouts, graceful shutdown, a header-read timeout.

uvicorn closes a connection that stays idle ``timeout_keep_alive`` seconds *after a
response*, but it arms no timer when a connection opens, and cancels that one at the first
byte of the next request: a socket that never sends a request, or sends its headers a byte
at a time, is held forever (and 300 of them make ``limit_concurrency`` shed real requests).
``HeaderTimeoutProtocol`` closes a connection whose request headers are not complete
``header_timeout`` seconds after it opened or after its request began.

This is the one module that touches uvicorn internals (the httptools protocol's parser
callbacks); ``pyproject.toml`` pins uvicorn's upper bound and a canary test checks them.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from argus.settings import Settings


class ArgusConfig(uvicorn.Config):
    """uvicorn's config plus the header-read timeout (picklable, for worker processes)."""

    def __init__(self, app: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout: float = getattr(config, "header_timeout", 10.0)
        self.header_timer: asyncio.TimerHandle | None = None

    def _arm_header_timer(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()  # a connection that never sends a request

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()  # from here the request (or stream) is the app's
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def config(settings: Settings, app: Any, workers: int = 1) -> ArgusConfig:
    # uvloop and httptools (uvicorn[standard]): the fastest event loop and HTTP parser.
    # No limit_concurrency: it counts idle connections too (argus.http.capacity caps work).
    return ArgusConfig(
        app, host=settings.host, port=settings.port, workers=workers,
        log_level="warning", access_log=False, loop="uvloop", http=HeaderTimeoutProtocol,
        header_timeout=settings.header_timeout,
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.shutdown_grace,
        # Forwarded headers are believed from ARGUS_TRUSTED_PROXIES only: by default uvicorn
        # believes X-Forwarded-For from loopback, so a local caller could pick its address.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
    )


def run(config: ArgusConfig) -> None:
    """What ``uvicorn.run`` does, for our config class (it builds a plain ``Config``)."""
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE: the port was taken, the app failed to load
