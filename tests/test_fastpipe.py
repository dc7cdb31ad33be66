"""The packed round (``argus.fastpipe``) against a real redis-server: the same replies as
redis-py's pipeline, and a dead server mapped to ``ServiceUnavailable`` by the store."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from argus import fastpipe, keys
from argus.errors import ServiceUnavailable
from argus.settings import Settings
from argus.store import Store, create_client
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


async def test_a_lease_runs_several_rounds_on_one_checkout(redis_url: str, seeded: None) -> None:
    client = aioredis.Redis.from_url(redis_url, protocol=2)
    pool = client.connection_pool
    checkouts: list[object] = []
    real = pool.get_connection

    async def counted() -> Any:
        connection = await real()
        checkouts.append(connection)
        return connection

    pool.get_connection = counted  # type: ignore[method-assign]
    try:
        async with fastpipe.Lease(client) as lease:
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
