"""The packed round (``argus.data.transport.fastpipe``) against a real redis-server: the same replies as
redis-py's pipeline, and a dead server mapped to ``ServiceUnavailable`` by the store."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from argus import keys
from argus.data.store import Store, create_client
from argus.data.transport import fastpipe
from argus.errors import ServiceUnavailable
from argus.settings import Settings
from tests.redis_server import RedisServer
from tests.seed import full_symbol

COMMANDS: list[tuple[str, str]] = [
    ("HGETALL", keys.regime("AAPL", "1h")),
    ("HGETALL", keys.regime("NOPE", "1d")),  # missing hash
    ("GET", keys.novelty("AAPL")),
    ("GET", keys.novelty("NOPE")),  # missing string
    ("SMEMBERS", keys.index("AAPL")),
    ("SMEMBERS", keys.index("NOPE")),  # missing set
    ("GET", keys.corr("AAPL", "MSFT")),
    ("HGETALL", keys.regime("BINANCE:BTC-USDT", "1m")),
]


async def pipeline_replies(client: aioredis.Redis, commands: list[tuple[str, str]]) -> list[Any]:
    async with client.pipeline(transaction=False) as pipe:
        for verb, key in commands:
            getattr(pipe, verb.lower())(key)
        return list(await pipe.execute())


@pytest.fixture
def seeded(sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "AAPL", ["MSFT", "NVDA"])
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    sync_redis.hset(keys.regime("AAPL", "1h"), "note", "ünïcode ✓")


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("decode", [False, True])
async def test_packed_replies_equal_the_pipelines(redis_url: str, seeded: None, decode: bool,
                                                  protocol: int) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=decode, protocol=protocol)
    try:
        expected = await pipeline_replies(client, COMMANDS)
        assert await fastpipe.run(client, COMMANDS) == expected
        assert expected[1] == {}
        assert expected[3] is None
        assert expected[5] == set()
    finally:
        await client.aclose()


async def test_a_round_of_thousands_of_commands_reads_every_reply(redis_url: str, sync_redis: redis.Redis) -> None:
    symbols = [f"EQ{i:04d}" for i in range(300)]
    for symbol in symbols:
        full_symbol(sync_redis, symbol, ["AAPL"])
    commands = [("HGETALL", keys.regime(s, tf)) for s in symbols for tf in keys.TIMEFRAMES]
    commands += [("GET", keys.novelty(s)) for s in symbols]
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await fastpipe.run(client, commands) == await pipeline_replies(client, commands)
        assert await fastpipe.run(client, []) == []
    finally:
        await client.aclose()


async def test_the_connection_goes_back_to_the_pool_clean(redis_url: str, seeded: None) -> None:
    client = aioredis.Redis.from_url(redis_url, max_connections=1)
    try:
        for _ in range(3):
            assert (await fastpipe.run(client, COMMANDS))[2] is not None
        assert await client.get(keys.novelty("NOPE")) is None  # the one connection still in sync
    finally:
        await client.aclose()


async def test_an_error_reply_raises_redis_pys_response_error(redis_url: str, sync_redis: redis.Redis) -> None:
    sync_redis.set("plain", "x")
    client = aioredis.Redis.from_url(redis_url)
    try:
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            await fastpipe.run(client, [("GET", "plain"), ("HGETALL", "plain")])
        assert await client.get("plain") == b"x"  # the connection survived
    finally:
        await client.aclose()


async def test_the_store_uses_the_packed_round_except_on_a_cluster(redis_url: str) -> None:
    settings = Settings.from_env({}, redis_url=redis_url)
    client = create_client(settings)
    try:
        assert Store(client, settings).packed
    finally:
        await client.aclose()


async def test_a_dead_server_is_service_unavailable_and_recovery_is_automatic() -> None:
    server = RedisServer().start()
    settings = Settings.from_env({}, redis_url=server.url, redis_timeout=0.5, redis_connect_timeout=0.5)
    client = create_client(settings)
    store = Store(client, settings)
    try:
        redis.Redis.from_url(server.url).set(keys.novelty("AAPL"), b'{"score": 1}')
        assert await store.fetch([("GET", keys.novelty("AAPL"))]) == [b'{"score": 1}']
        server.kill()
        with pytest.raises(ServiceUnavailable):
            await store.fetch([("GET", keys.novelty("AAPL"))])
        with pytest.raises(ServiceUnavailable):
            await store.discover(["AAPL"])
        server.start()  # same port, empty
        assert await store.fetch([("GET", keys.novelty("AAPL"))]) == [None]
        assert (await store.discover(["AAPL"]))[0].exists is False
    finally:
        await client.aclose()
        server.stop()


async def test_unshaped_replies_are_what_hiredis_parsed(redis_url: str, seeded: None) -> None:
    client = aioredis.Redis.from_url(redis_url, protocol=2)
    try:
        shaped = await fastpipe.run(client, COMMANDS)
        raw = await fastpipe.run(client, COMMANDS, shaped=False)
        assert dict(zip(raw[0][::2], raw[0][1::2], strict=True)) == shaped[0]  # HGETALL: field, value, ...
        assert raw[1] == []
        assert set(raw[4]) == shaped[4]  # SMEMBERS: a list
        assert raw[2] == shaped[2]
    finally:
        await client.aclose()


def counted_checkouts(client: aioredis.Redis) -> list[object]:
    """The connections checked out of ``client``'s pool from now on, in order."""
    pool = client.connection_pool
    checkouts: list[object] = []
    real: Callable[..., Awaitable[object]] = pool.get_connection

    async def counted(*args: Any, **kwargs: Any) -> object:
        connection = await real(*args, **kwargs)
        checkouts.append(connection)
        return connection

    pool.get_connection = counted  # type: ignore[method-assign]
    return checkouts


async def test_a_lease_runs_several_rounds_on_one_checkout(redis_url: str, seeded: None) -> None:
    client = aioredis.Redis.from_url(redis_url, protocol=2)
    pool = client.connection_pool
    checkouts = counted_checkouts(client)
    try:
        async with fastpipe.Lease(fastpipe.Reserve(client, keep=0)) as lease:
            assert checkouts == []  # taken at the first round
            [members] = await lease.run([("SMEMBERS", keys.index("AAPL"))], decode=True)
            with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
                await lease.run([("GET", keys.index("AAPL"))])
            replies = await lease.run([("GET", name) for name in sorted(members) if name.startswith("corr:")])
        assert len(checkouts) == 1
        assert all(reply is not None for reply in replies)
        assert pool._available_connections == checkouts  # given back
    finally:
        await client.aclose()


async def test_a_reserved_connection_serves_lease_after_lease_without_a_checkout(
        redis_url: str, seeded: None) -> None:
    client = aioredis.Redis.from_url(redis_url, protocol=2)
    pool = client.connection_pool
    checkouts = counted_checkouts(client)
    reserve = fastpipe.Reserve(client, keep=1)
    try:
        for _ in range(3):
            async with fastpipe.Lease(reserve) as lease:
                assert (await lease.run([("GET", keys.novelty("AAPL"))]))[0] is not None
        assert len(checkouts) == 1
        assert pool._available_connections == []  # kept out of the pool, for the next lease
        # Past the reserve, a second lease at the same time checks out and gives back.
        async with fastpipe.Lease(reserve) as first, fastpipe.Lease(reserve) as second:
            await first.run([("GET", keys.novelty("AAPL"))])
            await second.run([("GET", keys.novelty("AAPL"))])
        assert len(checkouts) == 2
        assert pool._available_connections == [checkouts[1]]
        assert await client.get(keys.novelty("NOPE")) is None  # the pool's connection in sync
    finally:
        await client.aclose()


async def stopped_for(server: RedisServer, seconds: float) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    await asyncio.sleep(seconds)
    server.process.send_signal(signal.SIGCONT)


async def test_a_round_that_overruns_its_timeout_raises_and_the_next_round_reconnects() -> None:
    server = RedisServer().start()
    client = aioredis.Redis.from_url(server.url, socket_timeout=0.2, protocol=2,
                                     retry=Retry(NoBackoff(), 0))
    reserve = fastpipe.Reserve(client, keep=1)
    try:
        async with fastpipe.Lease(reserve) as lease:
            assert await lease.run([("GET", "k")]) == [None]  # connected
            unstop = asyncio.create_task(stopped_for(server, 0.6))
            await asyncio.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(redis.TimeoutError):
                await lease.run([("GET", "k")])
            assert 0.15 < time.monotonic() - started < 0.45
            await unstop
        async with fastpipe.Lease(reserve) as lease:  # the same reserved connection, reconnected
            assert await lease.run([("GET", "k")]) == [None]
    finally:
        await client.aclose()
        server.stop()


async def test_each_round_of_a_lease_has_its_own_deadline() -> None:
    server = RedisServer().start()
    client = aioredis.Redis.from_url(server.url, socket_timeout=0.3, protocol=2,
                                     retry=Retry(NoBackoff(), 0))
    try:
        async with fastpipe.Lease(fastpipe.Reserve(client, keep=1)) as lease:
            assert await lease.run([("GET", "k")]) == [None]  # the first round: deadline +0.3 s
            await asyncio.sleep(0.2)
            # The second round waits 0.2 s for a stopped server: past the first round's
            # deadline, within its own.
            unstop = asyncio.create_task(stopped_for(server, 0.2))
            await asyncio.sleep(0.01)
            assert await lease.run([("GET", "k")]) == [None]
            await unstop
            await asyncio.sleep(0.4)  # the clock may fire between rounds: nothing to abort
            assert await lease.run([("GET", "k")]) == [None]
    finally:
        await client.aclose()
        server.stop()


@pytest.mark.parametrize("commands", [
    COMMANDS,
    [("GET", "corr:{X}:ÜBER"), ("HGETALL", "regime:{X}:1h")],  # not ASCII: hiredis packs
    [("EXISTS", "k"), ("GET", "k")],  # a verb without a head of its own
    [("GET", "line\r\nbreak"), ("GET", "")],
])
def test_a_round_is_packed_as_hiredis_packs_each_command(commands: list[tuple[str, str]]) -> None:
    # hiredis's stub types the argument as a 1-tuple (Tuple[X]), not a command's tuple.
    assert fastpipe.pack(commands) == b"".join(hiredis.pack_command(c) for c in commands)  # type: ignore[arg-type]


async def test_a_connection_that_died_idle_is_retried_on_a_fresh_one() -> None:
    server = RedisServer().start()
    settings = Settings.from_env({}, redis_url=server.url, redis_timeout=0.5)
    client = create_client(settings)  # one retry, as the app's
    store = Store(client, settings)
    try:
        assert await store.fetch([("GET", "k")]) == [None]  # the reserved connection, open
        server.kill()
        server.start()  # same port: the idle connection is dead and does not know it
        assert await store.fetch([("GET", "k")]) == [None]
    finally:
        await client.aclose()
        server.stop()


def test_only_redis_pys_socket_connections_take_the_packed_round(redis_url: str) -> None:
    import fakeredis

    assert fastpipe.supports(aioredis.Redis.from_url(redis_url))
    assert fastpipe.supports(aioredis.Redis.from_url("unix:///tmp/argus-none.sock"))
    assert not fastpipe.supports(fakeredis.FakeAsyncRedis())  # in-process: no socket to write
    assert not fastpipe.supports(aioredis.Redis.from_url(redis_url, single_connection_client=True))
