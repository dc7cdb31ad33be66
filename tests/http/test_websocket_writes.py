"""WebSocket frames of one event-loop turn reach the socket in one write
(``argus.http.server.CoalescingTransport``), in order, and none is lost or late."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from typing import Any

import orjson
import pytest
import redis
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from argus import keys
from argus.http import server
from argus.http.server import COALESCE_BYTES, CoalescingTransport, CoalescingWebSocketProtocol
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


def change(symbol: str, label: str) -> dict[Any, Any]:
    return {"kind": "regime", "symbol": symbol, "tf": "1h", "label": label, "previous": "",
            "computed_at": "1"}


def test_a_burst_over_a_real_server_arrives_whole_and_in_order(redis_url: str) -> None:
    symbol = "BINANCE:BTC-USDT"
    with live_server(redis_url, {"ARGUS_ANONYMOUS_TIER": "internal"}) as base, graphql_ws(base) as ws:
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
