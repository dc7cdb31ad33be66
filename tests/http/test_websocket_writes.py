"""WebSocket frames of one event-loop turn reach the socket in one write
(``argus.http.server.CoalescingTransport``), in order, and none is lost or late; a batch of
messages (``SEND_BATCH``) is exactly the frames its messages sent one by one would be."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from typing import Any

import orjson
import pytest
import redis
import uvicorn
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode

from argus import keys
from argus.http import server
from argus.http.server import COALESCE_BYTES, CoalescingTransport, CoalescingWebSocketProtocol
from argus.http.websocket import SEND_BATCH, batch_sender
from argus.settings import Settings
from tests.live_server import graphql_ws, live_server


class Socket(asyncio.Transport):
    """What the real transport was asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.fixture
async def coalescing() -> tuple[CoalescingTransport, Socket]:
    socket = Socket()
    return CoalescingTransport(socket, asyncio.get_running_loop()), socket


async def test_frames_of_one_turn_are_written_once_at_its_end(
        coalescing: tuple[CoalescingTransport, Socket]) -> None:
    transport, socket = coalescing
    for frame in (b"a", b"bc", b"", b"d"):
        transport.write(frame)
    assert socket.writes == []
    assert transport.get_write_buffer_size() == 4  # flow control counts what is held
    await asyncio.sleep(0)  # the turn ends
    assert socket.writes == [b"abcd"]
    transport.write(b"e")
    await asyncio.sleep(0)
    assert socket.writes == [b"abcd", b"e"]


async def test_past_the_bound_frames_are_written_at_once(
        coalescing: tuple[CoalescingTransport, Socket]) -> None:
    transport, socket = coalescing
    half = b"x" * (COALESCE_BYTES // 2)
    transport.write(half)
    transport.write(half)
    assert socket.writes == [half + half]  # no more than the bound is ever held
    transport.write(b"y")
    await asyncio.sleep(0)
    assert socket.writes == [half + half, b"y"]


async def test_a_close_writes_what_is_held_first_and_an_abort_drops_it(
        coalescing: tuple[CoalescingTransport, Socket]) -> None:
    transport, socket = coalescing
    transport.write(b"last message")
    transport.writelines([b", ", b"close frame"])
    transport.close()
    assert socket.writes == [b"last message, close frame"] and socket.closed
    await asyncio.sleep(0)  # the turn's flush finds nothing left
    assert socket.writes == [b"last message, close frame"]

    aborting = Socket()
    transport = CoalescingTransport(aborting, asyncio.get_running_loop())
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)
    assert aborting.writes == [] and aborting.aborted


async def test_frames_held_when_the_peer_went_away_are_dropped(
        coalescing: tuple[CoalescingTransport, Socket]) -> None:
    transport, socket = coalescing
    transport.write(b"frame")
    socket.closed = True  # connection lost before the turn ended
    await asyncio.sleep(0)
    assert socket.writes == []


def test_the_server_runs_websockets_through_the_coalescing_protocol() -> None:
    cfg = server.config(Settings.from_env({}), "argus.http.asgi:app")
    assert cfg.ws is CoalescingWebSocketProtocol
    # Canary for the uvicorn internals it relies on (pyproject pins uvicorn below the next
    # minor): the protocol takes its transport in connection_made and writes every frame,
    # close and ping included, through ``self.transport``.
    assert issubclass(CoalescingWebSocketProtocol, WebSocketsSansIOProtocol)
    source = inspect.getsource(WebSocketsSansIOProtocol)
    assert "self.transport = transport" in source
    assert source.count("self.transport.write(") >= 5
    assert "sendall" not in source and 'get_extra_info("socket")' not in source
    # SEND_BATCH: the scope is built in handle_connect, which only schedules the app's task
    # (so the extension added after it is seen), and send's checks read these attributes.
    connect = inspect.getsource(WebSocketsSansIOProtocol.handle_connect)
    assert connect.index('"extensions": {') < connect.index("create_task(self.run_asgi())")
    send = inspect.getsource(WebSocketsSansIOProtocol.send)
    for attribute in ("self.writable.wait()", "self.disconnected", "self.handshake_complete",
                      "self.close_sent", "self.initial_response", "self.conn.send_text(",
                      "self.conn.data_to_send()", "except InvalidState"):
        assert attribute in send, attribute


def change(symbol: str, label: str) -> dict[Any, Any]:
    return {"kind": "regime", "symbol": symbol, "tf": "1h", "label": label, "previous": "",
            "computed_at": "1"}


@pytest.mark.parametrize("compression", ["false", "true"], ids=["plain", "permessage-deflate"])
def test_a_burst_over_a_real_server_arrives_whole_and_in_order(redis_url: str,
                                                               compression: str) -> None:
    symbol = "BINANCE:BTC-USDT"
    env = {"ARGUS_ANONYMOUS_TIER": "internal", "ARGUS_WS_COMPRESSION": compression}
    with live_server(redis_url, env) as base, graphql_ws(base) as ws:
        # websockets' client offers permessage-deflate; the server takes it only when asked.
        assert bool(ws.protocol.extensions) is (compression == "true")
        for op in ("1", "2"):  # two operations of one connection share its writes
            ws.send(orjson.dumps({"id": op, "type": "subscribe", "payload": {
                "query": 'subscription { regimeChanges(symbols: ["BTC"]) { id label } }'}}
            ).decode())
        client = redis.Redis.from_url(redis_url)
        try:
            warm: set[str] = set()  # a change both operations received: both are live
            while warm != {"1", "2"}:
                client.xadd(keys.EVENTS, change(symbol, "warm-up"))
                with contextlib.suppress(TimeoutError):
                    while True:
                        warm.add(orjson.loads(ws.recv(0.2))["id"])
            pipe = client.pipeline(transaction=True)  # one MULTI, as the writer appends
            for n in range(300):
                pipe.xadd(keys.EVENTS, change(symbol, f"l{n}"))
            added = [keys.text(i) for i in pipe.execute()]
            got: dict[str, list[tuple[str, str]]] = {"1": [], "2": []}
            while sum(map(len, got.values())) < 2 * len(added):
                message = orjson.loads(ws.recv(10))
                data = message["payload"]["data"]["regimeChanges"]
                if data["label"] != "warm-up":
                    got[message["id"]].append((data["id"], data["label"]))
        finally:
            client.close()
    want = [(i, f"l{n}") for n, i in enumerate(added)]
    assert got == {"1": want, "2": want}


# --- SEND_BATCH: a list of messages in one ASGI message ------------------------------------

HANDSHAKE = (b"GET /graphql HTTP/1.1\r\nHost: argus\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
DEFLATE = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"


class Accepted:
    """One ``CoalescingWebSocketProtocol`` over a ``Socket``, its handshake done and accepted
    by an app that hands over its scope and its ``send``."""

    def __init__(self, protocol: CoalescingWebSocketProtocol, socket: Socket, scope: Any,
                 send: Any) -> None:
        self.protocol, self.socket, self.scope, self.send = protocol, socket, scope, send

    @classmethod
    async def open(cls, *, deflate: bool = False) -> Accepted:
        handed: asyncio.Future[tuple[Any, Any]] = asyncio.get_running_loop().create_future()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            handed.set_result((scope, send))
            while (await receive())["type"] != "websocket.disconnect":
                pass

        config = uvicorn.Config(app, ws=CoalescingWebSocketProtocol, ws_per_message_deflate=deflate,
                                log_level="warning")
        config.load()
        protocol = CoalescingWebSocketProtocol(config, ServerState(), app_state={})
        socket = Socket()
        protocol.connection_made(socket)
        protocol.data_received(HANDSHAKE + (DEFLATE if deflate else b"") + b"\r\n")
        scope, send = await asyncio.wait_for(handed, 5)
        await asyncio.sleep(0)  # the turn ends: the handshake's answer is written
        socket.writes.clear()
        return cls(protocol, socket, scope, send)

    async def written(self) -> bytes:
        await asyncio.sleep(0)  # the coalescing turn ends
        data = b"".join(self.socket.writes)
        self.socket.writes.clear()
        return data


TEXTS = [b'{"id":"1","type":"next","payload":{"data":{"n":0}}}', b"x" * 125, b"y" * 126,
         "é".encode() * 40_000, b""]


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "permessage-deflate"])
async def test_a_batch_is_the_frames_its_messages_sent_one_by_one_would_be(deflate: bool) -> None:
    batched, single = await Accepted.open(deflate=deflate), await Accepted.open(deflate=deflate)
    assert SEND_BATCH in batched.scope["extensions"]
    assert batched.protocol.conn.extensions if deflate else not batched.protocol.conn.extensions
    await batched.send({"type": SEND_BATCH, "texts": TEXTS})
    for text in TEXTS:
        await single.send({"type": "websocket.send", "text": text.decode()})
    assert await batched.written() == await single.written()
    if not deflate:  # RFC 6455 frames, as websockets' own serializer writes them
        assert await batched.written() == b""
        await batched.send({"type": SEND_BATCH, "texts": TEXTS[:2]})
        assert await batched.written() == b"".join(
            Frame(Opcode.TEXT, t).serialize(mask=False, extensions=[]) for t in TEXTS[:2])


async def test_a_batch_after_a_close_or_to_a_peer_gone_is_refused_and_writes_nothing() -> None:
    closed = await Accepted.open()
    await closed.send({"type": "websocket.close", "code": 1000})
    await closed.written()
    with pytest.raises(RuntimeError, match="after a close"):
        await closed.send({"type": SEND_BATCH, "texts": TEXTS})
    assert await closed.written() == b""

    closing = await Accepted.open()  # the peer's close frame arrived first
    closing.protocol.data_received(Frame(Opcode.CLOSE, b"\x03\xe8").serialize(mask=True, extensions=[]))
    await closing.written()
    with pytest.raises(ClientDisconnected):
        await closing.send({"type": SEND_BATCH, "texts": TEXTS})

    gone = await Accepted.open()
    gone.protocol.connection_lost(None)
    with pytest.raises(ClientDisconnected):
        await gone.send({"type": SEND_BATCH, "texts": TEXTS})
    assert gone.socket.writes == []


async def test_the_app_sends_a_batch_only_where_the_server_offers_it() -> None:
    async def send(message: Any) -> None:
        sent.append(message)

    sent: list[Any] = []
    assert batch_sender({"type": "websocket", "extensions": {}}, send) is None  # the test client
    batch = batch_sender({"type": "websocket", "extensions": {SEND_BATCH: {}}}, send)
    assert batch is not None
    await batch([b"a", b"b"])
    assert sent == [{"type": SEND_BATCH, "texts": [b"a", b"b"]}]
