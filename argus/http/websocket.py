"""GraphQL over WebSocket at ``/graphql``: the ``graphql-transport-ws`` protocol
(github.com/enisdenjo/graphql-ws, PROTOCOL.md), hand-written because Strawberry's handler
runs each operation through its own ``Schema.stream`` and view, which would bypass
``Policy.admit`` and the app's ``Engine``.

Credentials (``docs/contract/clarifications.md`` §16): the ``connection_init`` payload's
``Authorization`` / ``X-API-Key`` keys (case-insensitive) over the upgrade request's
headers; checked at ``connection_init`` (a bad one closes 4401; a tier that may not
subscribe, 4403) and again as each operation is admitted. Closing codes, the protocol's:

    4400  a message that is not the protocol's (not JSON text, no type, a bad payload)
    4401  a bad credential, or ``subscribe`` before ``connection_ack``
    4403  the caller's tier may not subscribe
    4406  the client did not offer the ``graphql-transport-ws`` subprotocol
    4408  no ``connection_init`` within ``ARGUS_WS_INIT_TIMEOUT``
    4409  a ``subscribe`` whose id is in use
    4429  a second ``connection_init``
    1009  a message larger than ``ARGUS_MAX_WS_MESSAGE_BYTES``
    1013  the credential could not be checked (Redis down): try again later

``ARGUS_MAX_SUBSCRIPTIONS_PER_CONNECTION`` operations at once; one more gets an ``error``
message (``QUERY_TOO_COMPLEX``, limit ``maxSubscriptionsPerConnection``). Each operation is
admitted within a request's bounds (``http.deadline``, shared with ``/graphql`` and REST):
its deadline and its place among the requests using Redis; past the deadline it gets an
``error`` message (``SERVICE_UNAVAILABLE``). The stream it starts outlives them.

A writer batch's changes finish together (``Engine.subscribe`` gives them as one list);
where the server offers the ``SEND_BATCH`` extension (``argus serve``:
``http.server.CoalescingWebSocketProtocol``), their ``next`` messages go to it in one ASGI
message, each still its own text frame, instead of one ``send_text`` each through Starlette
and uvicorn (about 2.5 µs a message of the 4, and a burst of 250 changes to 100
subscribers is 25,000 messages). Elsewhere (the test client) they go one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn

import orjson
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from argus.errors import ArgusError, ServiceUnavailable, Unauthenticated
from argus.http.deadline import RequestBounds
from argus.http.render import document_error_list
from argus.http.subscriptions import StreamOperations
from argus.policy.policy import InvalidDocument
from argus.settings import Settings

log = logging.getLogger("argus.websocket")
SUBPROTOCOL = "graphql-transport-ws"
_CREDENTIALS = {"authorization": b"authorization", "x-api-key": b"x-api-key"}

#: An ASGI extension (``scope["extensions"]``) and its message, ``{"type": SEND_BATCH,
#: "texts": [bytes, ...]}``: every text (UTF-8) as a text frame of its own, in order.
SEND_BATCH = "argus.websocket.send_batch"

SendBatch = Callable[[list[bytes]], Awaitable[None]]


def batch_sender(scope: Scope, send: Send) -> SendBatch | None:
    """How to send a list of messages at once over ``send``, if its server offers it."""
    if SEND_BATCH not in scope.get("extensions", {}):
        return None

    async def send_batch(texts: list[bytes]) -> None:
        await send({"type": SEND_BATCH, "texts": texts})

    return send_batch


class GraphQLWebSocketEndpoint:
    """The ASGI app of the WebSocket at ``/graphql`` (an app, not a Starlette endpoint
    function, so that it holds the server's own ``send`` for ``SEND_BATCH``)."""

    def __init__(self, operations: StreamOperations, settings: Settings,
                 bounds: RequestBounds) -> None:
        self.operations = operations
        self.settings = settings
        self.bounds = bounds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await GraphQLTransportWS(WebSocket(scope, receive, send), self.operations,
                                 self.settings, self.bounds,
                                 send_batch=batch_sender(scope, send)).serve()


class Closed(Exception):
    """The connection is closed (by us, with a code, or by the peer)."""


def with_credentials(websocket: WebSocket, payload: dict[str, Any]) -> HTTPConnection:
    """The upgrade request, its credential headers replaced by those of the payload."""
    given: dict[bytes, bytes] = {}
    for key, value in payload.items():
        name = _CREDENTIALS.get(str(key).lower())
        if name is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string")
        given[name] = value.encode("latin-1", "replace")
    headers = [(k, v) for k, v in websocket.scope["headers"] if k not in given]
    headers += list(given.items())
    return HTTPConnection({**websocket.scope, "headers": headers})


class GraphQLTransportWS:
    """One WebSocket connection's protocol state and its operations."""

    def __init__(self, websocket: WebSocket, operations: StreamOperations,
                 settings: Settings, bounds: RequestBounds, *,
                 send_batch: SendBatch | None = None) -> None:
        self.websocket = websocket
        self.send_batch = send_batch
        self.operations = operations
        self.settings = settings
        self.bounds = bounds
        self.conn: HTTPConnection | None = None  # set once connection_init is acknowledged
        self.initialised = False
        self.running: dict[str, asyncio.Task[None]] = {}

    async def serve(self) -> None:
        websocket = self.websocket
        if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
            await websocket.accept()
            await websocket.close(4406, "Subprotocol not acceptable")
            return
        await websocket.accept(subprotocol=SUBPROTOCOL)
        timer = asyncio.create_task(self._init_timeout())
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                await self._handle(message)
        except Closed:
            pass
        finally:
            timer.cancel()
            for task in list(self.running.values()):
                task.cancel()
            for task in list(self.running.values()):
                with contextlib.suppress(BaseException):
                    await task
            self.running.clear()

    async def close(self, code: int, reason: str) -> NoReturn:
        if self.websocket.application_state is not WebSocketState.DISCONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close(code, reason)
        raise Closed(reason)

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_json(orjson.dumps(message))

    async def send_json(self, text: bytes) -> None:
        """One message, already JSON (a result's ``next`` is framed around its shared
        encoding, not encoded again per subscriber)."""
        try:
            await self.websocket.send_text(text.decode())
        except (RuntimeError, WebSocketDisconnect, OSError) as exc:
            raise Closed("the peer went away") from exc

    async def send_all(self, texts: list[bytes]) -> None:
        """Messages already JSON, in order: at once where the server offers ``SEND_BATCH``."""
        if self.send_batch is None or len(texts) == 1:
            for text in texts:
                await self.send_json(text)
            return
        try:
            await self.send_batch(texts)
        except (RuntimeError, OSError) as exc:
            raise Closed("the peer went away") from exc

    async def _init_timeout(self) -> None:
        await asyncio.sleep(self.settings.ws_init_timeout)
        if not self.initialised:
            with contextlib.suppress(Closed):
                await self.close(4408, "Connection initialisation timeout")

    async def _handle(self, raw: Mapping[str, Any]) -> None:
        text = raw.get("text")
        data = text.encode() if isinstance(text, str) else raw.get("bytes")
        if data is None:
            await self.close(4400, "Invalid message")
        if len(data) > self.settings.max_ws_message_bytes:
            await self.close(1009, "Message too big")
        if text is None:
            await self.close(4400, "WebSocket message type must be text")
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            await self.close(4400, "WebSocket message must be valid JSON")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.close(4400, "Invalid message")
        kind = message["type"]
        if kind == "connection_init":
            await self._connection_init(message.get("payload"))
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            self._complete(message)
        else:
            await self.close(4400, f"Unknown message type: {kind[:32]}")

    async def _connection_init(self, payload: Any) -> None:
        if self.initialised:
            await self.close(4429, "Too many initialisation requests")
        self.initialised = True
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            await self.close(4400, "Invalid connection_init payload")
        try:
            conn = with_credentials(self.websocket, payload)
        except ValueError:
            await self.close(4400, "Invalid connection_init payload")
        try:
            caller = await self.operations.policy.authenticate(conn)
        except Unauthenticated as exc:
            await self.close(4401, _reason(exc.message))
        except ServiceUnavailable:
            await self.close(1013, "Try again later")
        if not caller.tier.subscriptions:
            await self.close(4403, "Forbidden")
        self.conn = conn
        await self.send({"type": "connection_ack"})

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if self.conn is None:
            await self.close(4401, "Unauthorized")
        op_id, payload = message.get("id"), message.get("payload")
        if (not isinstance(op_id, str) or not op_id or len(op_id) > 256
                or not isinstance(payload, dict)):
            await self.close(4400, "Invalid subscribe message")
        query, variables = payload.get("query"), payload.get("variables")
        name, extensions = payload.get("operationName"), payload.get("extensions")
        if (not (query is None or isinstance(query, str))
                or not (variables is None or isinstance(variables, dict))
                or not (name is None or isinstance(name, str))
                or not (extensions is None or isinstance(extensions, dict))):
            await self.close(4400, "Invalid subscribe payload")
        if op_id in self.running:
            await self.close(4409, f"Subscriber for {op_id[:64]} already exists")
        limit = self.settings.max_subscriptions_per_connection
        if len(self.running) >= limit:
            await self.send({"id": op_id, "type": "error", "payload": [{
                "message": f"{len(self.running) + 1} subscriptions on one connection. "
                           f"Allowed: {limit}.",
                "extensions": {"code": "QUERY_TOO_COMPLEX",
                               "limit": "maxSubscriptionsPerConnection", "value": limit}}]})
            return
        self.running[op_id] = asyncio.create_task(
            self._run(op_id, query, variables, name, extensions), name=f"argus-ws-{op_id[:32]}")

    def _complete(self, message: dict[str, Any]) -> None:
        op_id = message.get("id")
        task = self.running.pop(op_id, None) if isinstance(op_id, str) else None
        if task is not None:
            task.cancel()

    async def _run(self, op_id: str, query: str | None, variables: dict[str, Any] | None,
                   name: str | None, extensions: dict[str, Any] | None) -> None:
        assert self.conn is not None
        try:
            try:
                async with self.bounds():
                    results = await self.operations.start(self.conn, query, extensions,
                                                          variables, name)
            except Unauthenticated as exc:  # the credential went bad since connection_init
                self.running.pop(op_id, None)
                await self.close(4401, _reason(exc.message))
            except InvalidDocument as exc:
                await self._error(op_id, document_error_list(exc))
                return
            except ArgusError as exc:
                await self._error(op_id, [{"message": exc.message,
                                           "extensions": exc.as_extensions()}])
                return
            head = b'{"id":' + orjson.dumps(op_id) + b',"type":"next","payload":'
            try:
                async for batch in results:
                    await self.send_all([head + result + b"}" for result in batch])
            finally:
                await results.aclose()  # type: ignore[attr-defined]
            if self.running.pop(op_id, None) is not None:
                await self.send({"id": op_id, "type": "complete"})
        except Closed:
            pass
        except Exception as exc:  # masked for the client, logged here
            log.error("websocket operation failed", exc_info=exc)
            if self.running.pop(op_id, None) is not None:
                with contextlib.suppress(Closed):
                    await self._error(op_id, [{"message": "Internal server error.",
                                               "extensions": {"code": "INTERNAL_SERVER_ERROR"}}])
        finally:
            self.running.pop(op_id, None)

    async def _error(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        self.running.pop(op_id, None)
        await self.send({"id": op_id, "type": "error", "payload": errors})


def _reason(message: str) -> str:
    """A close reason fits in 123 bytes (RFC 6455)."""
    return message.encode()[:120].decode(errors="ignore")
