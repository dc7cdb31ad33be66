"""The writer on a real Redis Cluster: one script per symbol stays inside the symbol's slot."""

from __future__ import annotations

from redis.cluster import RedisCluster

from argus import keys
from argus.settings import Settings
from argus.writer import ttl
from argus.writer.redis_writer import RedisWriter, connect
from tests.writer.test_redis_writer import output


def test_the_writer_writes_every_symbol_with_ttls_across_cluster_nodes(redis_cluster_url: str) -> None:
    settings = Settings.from_env({}, redis_url=redis_cluster_url, redis_cluster=True, ttl=600,
                                 write_batch=7)
    client = connect(settings)
    assert isinstance(client, RedisCluster)
    symbols = [f"CW{i:03d}" for i in range(40)]
    outs = [output(s, {"1h": "trending_up", "1d": "ranging"}, [symbols[(i + 1) % 40]])
            for i, s in enumerate(symbols)]
    report = RedisWriter(client, settings).write(outs)
    assert report.symbols == 40
    # redis-py leaves RedisCluster.get_node_from_key unannotated.
    assert len({client.get_node_from_key(keys.index(s)).name  # type: ignore[no-untyped-call]
                for s in symbols}) == 3
    for symbol in symbols:
        members = {keys.text(m) for m in client.smembers(keys.index(symbol))}
        assert len(members) == 4
        assert all(0 < client.ttl(m) <= client.ttl(keys.index(symbol)) for m in members)
    assert ttl.audit(client) == {name: 0 for name in ttl.audit(client)}

    # A second run that drops a timeframe removes it from the keyspace and the index.
    outs = [output(s, {"1h": "volatile"}, [symbols[(i + 1) % 40]]) for i, s in enumerate(symbols)]
    report = RedisWriter(client, settings).write(outs)
    assert len(report.changes) == 40
    assert client.exists(keys.regime("CW000", "1d")) == 0
    assert keys.regime("CW000", "1d").encode() not in client.smembers(keys.index("CW000"))
    assert client.xlen(keys.EVENTS) == 80 + 40  # first labels (previous empty), then changes
    client.close()


def test_ttl_fix_walks_every_cluster_node(redis_cluster_url: str) -> None:
    client = RedisCluster.from_url(redis_cluster_url)
    names = [keys.novelty(f"TF{i:03d}") for i in range(30)]
    for name in names:
        client.set(name, '{"score": 0.5}')
    client.set("foreign:{TF000}", "x")
    # redis-py leaves RedisCluster.get_node_from_key unannotated.
    assert len({client.get_node_from_key(n).name for n in names}) == 3  # type: ignore[no-untyped-call]
    assert ttl.audit(client)["novelty:{*}"] == 30
    report = ttl.fix(client, 900)
    assert report.remaining == 0
    assert all(0 < client.ttl(n) <= 900 for n in names)
    assert client.ttl("foreign:{TF000}") == -1
    client.close()
