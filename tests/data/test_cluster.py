"""Redis Cluster: the read path on a real three-node cluster (ARGUS_REDIS_CLUSTER=true).

Every key of one symbol shares a hash slot (the ``{SYM}`` hash tag); a request's symbols
spread over all nodes, and the pipelines are split per node by the cluster client.
"""

from __future__ import annotations

from redis.cluster import RedisCluster
from starlette.testclient import TestClient

from argus import keys
from argus.http.app import create_app
from argus.settings import Settings
from tests.conftest import gql
from tests.seed import full_symbol

SYMBOLS = [f"EQ{i:03d}" for i in range(60)]


def test_symbols_spread_over_the_cluster_are_read_in_one_query(redis_cluster_url: str) -> None:
    client = RedisCluster.from_url(redis_cluster_url)
    for i, symbol in enumerate(SYMBOLS):
        full_symbol(client, symbol, [SYMBOLS[(i + 1) % len(SYMBOLS)]])  # type: ignore[arg-type]
    # redis-py leaves RedisCluster.keyslot and get_node_from_key unannotated.
    slots = {client.keyslot(keys.index(s)) for s in SYMBOLS}  # type: ignore[no-untyped-call]
    nodes = {client.get_node_from_key(keys.index(s)).name for s in SYMBOLS}  # type: ignore[no-untyped-call]
    assert len(nodes) == 3  # the request really spans every node
    assert all(client.keyslot(keys.regime(s, "1h")) == client.keyslot(keys.index(s))  # type: ignore[no-untyped-call]
               for s in SYMBOLS)
    assert len(slots) > 3
    client.close()

    settings = Settings.from_env({}, redis_url=redis_cluster_url, redis_cluster=True,
                                 anonymous_tier="internal")
    names = ", ".join(f'"{s}"' for s in SYMBOLS)
    with TestClient(create_app(settings)) as api:
        body = gql(api, f"{{ symbols(symbols: [{names}, \"NOPE\"]) {{ symbol regime {{ label }} "
                        f"novelty {{ score }} correlations {{ partner {{ symbol novelty {{ score }} }} }} }} }}")
        assert [e["path"] for e in body["errors"]] == [["symbols", len(SYMBOLS)]]
        symbols = body["data"]["symbols"]
        assert [s["symbol"] for s in symbols[:-1]] == SYMBOLS
        assert all(len(s["regime"]) == 8 and s["novelty"] == {"score": 0.5} for s in symbols[:-1])
        assert symbols[0]["correlations"] == [{"partner": {"symbol": "EQ001", "novelty": {"score": 0.5}}}]
        assert api.get("/readyz").status_code == 200
        assert api.get("/api/intelligence/EQ007").json()["symbol"] == "EQ007"


def test_scan_discovery_walks_every_cluster_node(redis_cluster_url: str) -> None:
    unindexed = [f"SC{i:03d}" for i in range(10)]
    client = RedisCluster.from_url(redis_cluster_url)
    for symbol in unindexed:
        full_symbol(client, symbol, ["AAPL", "MSFT"])  # type: ignore[arg-type]
        client.delete(keys.index(symbol))
    # redis-py leaves RedisCluster.get_node_from_key unannotated.
    assert len({client.get_node_from_key(keys.index(s)).name for s in unindexed}) == 3  # type: ignore[no-untyped-call]
    client.close()
    settings = Settings.from_env({}, redis_url=redis_cluster_url, redis_cluster=True,
                                 anonymous_tier="internal", discovery="scan")
    names = ", ".join(f'"{s}"' for s in unindexed)
    with TestClient(create_app(settings)) as api:
        body = gql(api, f"{{ symbols(symbols: [{names}]) {{ correlations {{ partner {{ symbol }} }} }} }}")
    assert "errors" not in body
    assert all([c["partner"]["symbol"] for c in s["correlations"]] == ["AAPL", "MSFT"]
               for s in body["data"]["symbols"])

