"""The soak's own parts: its fixed mix and its raw HTTP client (the soak itself runs in the
test command as ``python -m bench.soak --seconds 30 --smoke``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from bench import soak

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def mix() -> soak.Mix:
    return soak.Mix([f"EQ{i:05d}" for i in range(2_000)], ["EQ00001", "EQ00002"], "pro", "int",
                    random.Random(1))


def test_the_schedule_gives_hostile_kinds_their_share_and_is_fixed_by_the_seed() -> None:
    schedule = soak.build_schedule(mix(), 0.05, None, random.Random(3), length=20_000)
    hostile = sum(kind not in soak.LEGIT_WEIGHTS for kind in schedule)
    assert 0.04 * len(schedule) < hostile < 0.06 * len(schedule)
    assert soak.build_schedule(mix(), 0.05, None, random.Random(3), length=20_000) == schedule
    only = soak.build_schedule(mix(), 0.5, {"batch"}, random.Random(3), length=1_000)
    assert set(only) - set(soak.LEGIT_WEIGHTS) == {"batch"}


def test_every_hostile_request_is_bounded_and_well_framed() -> None:
    m = mix()
    for kind, build in m.hostile.items():
        raw = build()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert len(raw) <= 2 * soak.MiB + 4096, kind
        assert head.startswith((b"GET /", b"POST /")), kind
        if b"Content-Length" in head:
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert length == len(body), kind


async def serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, soak.HOST, 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
])
def test_the_client_reads_length_and_chunked_answers_on_one_connection(answer: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
        await writer.drain()
        writer.close()

    async def run() -> list[tuple[int, bytes]]:
        server, port = await serve(handler)
        connection = soak.Connection(port)
        try:
            return [await connection.exchange(soak.http_request("GET", "/")) for _ in range(2)]
        finally:
            connection.close()
            server.close()

    assert asyncio.run(run()) == [(200, b"hello"), (200, b"hello")]


def test_a_silently_closed_kept_alive_connection_is_told_apart_from_a_lost_request() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n")  # no Connection: close
        await writer.drain()
        writer.close()

    async def run() -> None:
        server, port = await serve(handler)
        connection = soak.Connection(port)
        try:
            assert await connection.exchange(soak.http_request("GET", "/")) == (500, b"")
            with pytest.raises(soak.StaleClose):
                await connection.exchange(soak.http_request("GET", "/"))
            assert await connection.exchange(soak.http_request("GET", "/")) == (500, b"")
        finally:
            connection.close()
            server.close()

    asyncio.run(run())


def test_a_connection_refused_is_lost() -> None:
    from tests.redis_server import free_port

    with pytest.raises(soak.Lost):
        asyncio.run(soak.Connection(free_port()).exchange(soak.http_request("GET", "/")))
