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

WebSocket frames go out in one write per connection and event-loop turn
(``CoalescingWebSocketProtocol``): uvicorn writes each message to the socket as it is sent,
a system call and a TCP segment each, and a writer batch of 250 regime changes for ten
subscribers is 2,500 messages (those writes were 29 % of the server's time on such bursts;
joined, the server spent 28 % less and the client 12 % less, ``bench.sub_latency``). The
frames of one turn are joined and written at its end, or at once past ``COALESCE_BYTES``,
so that the first of a long burst do not wait for its last; nothing waits for a later turn,
and the real transport's flow control still sees every byte. The protocol also offers the
app an ASGI extension, ``http.websocket.SEND_BATCH``: a list of messages in one ASGI
message, each framed by ``websockets`` as ``send_text`` frames it (extensions such as
permessage-deflate included), their bytes written at once; the same checks as a
``websocket.send`` (after the accept, before the close, the peer still there, flow control).

This is the one module that touches uvicorn internals (the httptools protocol's parser
callbacks, the sans-I/O WebSocket protocol's transport); ``pyproject.toml`` pins uvicorn's
upper bound and canary tests check them.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors import Multiprocess
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from argus.http.middleware import NOSNIFF, header_limit_refusal
from argus.http.websocket import SEND_BATCH
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


#: Frames held in one turn past this many bytes are written at once: about 50 regime
#: changes, so a burst's first messages leave within a millisecond or so, memory stays
#: bounded and the transport's flow control sees them (64 KiB held whole bursts back).
COALESCE_BYTES = 8 * 1024


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes of one event-loop turn reach the socket as one ``write``.

    Every other operation writes what is buffered first, so bytes keep their order whatever
    path wrote them (a close frame after the messages before it)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._chunks: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self._chunks.append(bytes(data))
        self._size += len(data)
        if self._size >= COALESCE_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._turn_ended)

    def _turn_ended(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            self._size = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._chunks.clear()
        self._size = 0
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, writing through a ``CoalescingTransport``, and
    offering ``SEND_BATCH``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CoalescingTransport(cast(asyncio.Transport, transport),
                                                    self.loop))

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # a handshake refused (not 101) builds no scope
            # The app's task is created but has not run: it reads this same dict.
            self.scope["extensions"][SEND_BATCH] = {}

    async def send(self, message: Any) -> None:
        if message["type"] == SEND_BATCH:
            await self.send_batch(message["texts"])
        else:
            await super().send(message)

    async def send_batch(self, texts: list[bytes]) -> None:
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if not self.handshake_complete or self.close_sent or self.initial_response is not None:
            raise RuntimeError(f"Unexpected ASGI message '{SEND_BATCH}' before the accept or "
                               "after a close or a response.")
        try:
            for text in texts:
                self.conn.send_text(text)
        except InvalidState:  # the peer's close frame came first
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))


def config(settings: Settings, app: Any, workers: int = 1) -> ArgusConfig:
    # uvloop and httptools (uvicorn[standard]): the fastest event loop and HTTP parser.
    # No limit_concurrency: it counts idle connections too (argus.http.capacity caps work).
    return ArgusConfig(
        app, host=settings.host, port=settings.port, workers=workers,
        log_level="warning", access_log=False, loop="uvloop", http=HeaderTimeoutProtocol,
        ws=CoalescingWebSocketProtocol,
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
