"""uvicorn as ``argus serve`` runs it: timeouts, graceful shutdown, bounded request heads.

uvicorn closes a connection that stays idle ``timeout_keep_alive`` seconds *after a
response*, but it arms no timer when a connection opens, and cancels that one at the first
byte of the next request: a socket that never sends a request, or sends its headers a byte
at a time, is held forever (and 300 of them make ``limit_concurrency`` shed real requests).
``HeaderTimeoutProtocol`` closes a connection whose request headers are not complete
``header_timeout`` seconds after it opened or after its request began.

httptools has no header limit either: it holds a header's bytes until the header ends, so a
10 MB header was held whole before ``HeaderLimitMiddleware`` could count it. The protocol
counts the bytes of a head still arriving and, past ``max_header_bytes`` (plus the request
line's method and version, which the middleware does not count), answers the middleware's
431 and closes without reading more: at most the limit plus one read is ever held.

This is the one module that touches uvicorn internals (the httptools protocol's parser
callbacks); ``pyproject.toml`` pins uvicorn's upper bound and a canary test checks them.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from argus.http.middleware import NOSNIFF, header_limit_refusal
from argus.settings import Settings

#: Room for what the raw head holds and ``HeaderLimitMiddleware`` does not count (method,
#: ``HTTP/1.1``, the blank line), so a head the middleware accepts is never cut off here.
HEAD_FRAMING_BYTES = 256


class ArgusConfig(uvicorn.Config):
    """uvicorn's config plus the header-read timeout and size (picklable, for workers)."""

    def __init__(self, app: Any, *, header_timeout: float, max_header_bytes: int = 16 * 1024,
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout: float = getattr(config, "header_timeout", 10.0)
        self.header_timer: asyncio.TimerHandle | None = None
        self.max_header_bytes: int = getattr(config, "max_header_bytes", 16 * 1024)
        self.reading_head = False  # from a request's first byte until its headers are parsed
        self.head_bytes = 0  # bytes of that head received so far (a lower bound)
        self.heads_begun = 0

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

    def data_received(self, data: bytes) -> None:
        continuing, begun = self.reading_head, self.heads_begun
        super().data_received(data)
        if not self.reading_head or self.transport.is_closing():
            return  # a head complete in this read is counted exactly by HeaderLimitMiddleware
        if begun == self.heads_begun and continuing:
            self.head_bytes += len(data)  # every byte of this read is the head's
        else:
            # The head began inside this read, at an offset httptools does not tell: count
            # what it has reported (the target, whole headers); the next read counts in full.
            self.head_bytes = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if self.head_bytes > self.max_header_bytes + HEAD_FRAMING_BYTES:
            self._refuse_head()

    def _refuse_head(self) -> None:
        path = self.url.split(b"?", 1)[0].decode("latin-1")
        body, headers = header_limit_refusal(path, self.head_bytes, self.max_header_bytes,
                                             at_least=True)
        head = [STATUS_LINE[431]]
        for name, value in [*self.server_state.default_headers, *headers, NOSNIFF]:
            head += [name, b": ", value, b"\r\n"]
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self.reading_head = False
        self.transport.close()  # reads stop here: nothing more of the head is buffered

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_head, self.head_bytes = True, 0
        self.heads_begun += 1
        self._arm_header_timer()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self.reading_head = False
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
        header_timeout=settings.header_timeout, max_header_bytes=settings.max_header_bytes,
        timeout_keep_alive=settings.keep_alive_timeout,
        # A WebSocket frame past the app's own message bound is refused by uvicorn (1009)
        # before it is buffered whole.
        ws_max_size=settings.max_ws_message_bytes,
        ws_per_message_deflate=settings.ws_compression,
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
