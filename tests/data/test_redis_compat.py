"""Canaries for the redis-py internals ``argus.data.transport._redis_compat`` touches: each
fails naming the internal when an upgrade of redis-py moves it, before fastpipe breaks in a
way that is harder to read."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.connection import AbstractConnection

from argus.data.transport import _redis_compat as compat

pytestmark = pytest.mark.redis


def test_redis_py_is_within_the_tested_bounds() -> None:
    major = int(redis.__version__.split(".")[0])
    assert major == 8, f"redis-py {redis.__version__} is outside the tested >=8.0,<9"


def test_base_parser_parse_error_maps_error_replies_to_redis_py_exceptions() -> None:
    from redis._parsers import base

    assert hasattr(base, "BaseParser"), "redis._parsers.base.BaseParser moved"
    assert callable(getattr(base.BaseParser, "parse_error", None)), \
        "redis._parsers.base.BaseParser.parse_error moved"
    error = compat.parse_error("NOSCRIPT No matching script")
    assert isinstance(error, rex.NoScriptError), "BaseParser.parse_error no longer maps NOSCRIPT"
    assert isinstance(compat.parse_error("ERR unknown"), rex.ResponseError)
    assert str(compat.parse_error("ERR unknown")) == "unknown"


async def _connection(redis_url: str) -> tuple[aioredis.Redis, AbstractConnection]:
    client = aioredis.Redis.from_url(redis_url)
    conn: AbstractConnection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    return client, conn


async def test_a_connected_connection_exposes_its_stream_reader_and_writer(redis_url: str) -> None:
    client, conn = await _connection(redis_url)
    try:
        assert isinstance(getattr(conn, "_writer", None), asyncio.StreamWriter), \
            "redis.asyncio Connection._writer is no longer an asyncio.StreamWriter"
        assert isinstance(getattr(conn, "_reader", None), asyncio.StreamReader), \
            "redis.asyncio Connection._reader is no longer an asyncio.StreamReader"
        streams = compat.streams(conn)
        assert streams is not None
        writer, reader = streams
        writer.write(b"*1\r\n$4\r\nPING\r\n")
        assert await reader.readline() == b"+PONG\r\n"
        await conn.disconnect()
        assert compat.streams(conn) is None, "a disconnected Connection keeps _reader/_writer"
    finally:
        await client.connection_pool.release(conn)
        await client.aclose()


async def test_abort_ends_a_pending_read(redis_url: str) -> None:
    client, conn = await _connection(redis_url)
    try:
        streams = compat.streams(conn)
        assert streams is not None
        read = asyncio.ensure_future(streams[1].read(1))  # nothing was sent: it waits
        await asyncio.sleep(0)
        compat.abort(conn)
        assert await asyncio.wait_for(read, 5) == b"", "aborting _writer.transport left the read"
    finally:
        await conn.disconnect(nowait=True)
        await client.connection_pool.release(conn)
        await client.aclose()

