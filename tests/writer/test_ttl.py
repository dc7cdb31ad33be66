from __future__ import annotations

import redis

from argus import keys
from argus.writer import ttl

UNRELATED = ("session:42", "regime:AAPL:1h", "corr:AAPL:MSFT", "novelty:AAPL", "idx:AAPL",
             "argus:other", "cache:{AAPL}")


def foreign_keyspace(client: redis.Redis) -> None:
    """What a writer without TTLs leaves, next to other applications' keys."""
    for sym in ("AAPL", "BINANCE:BTC-USDT"):
        for tf in ("1h", "1d"):
            client.hset(keys.regime(sym, tf), mapping={"regime": "ranging"})
        client.set(keys.novelty(sym), '{"score":0.2}')
        client.set(keys.corr(sym, "MSFT"), '{"coefficient":0.5}')
    client.sadd(keys.index("AAPL"), keys.regime("AAPL", "1h"), keys.novelty("AAPL"))
    client.xadd(keys.EVENTS, {"kind": "regime"})
    client.hset(keys.UNIVERSE, mapping={"AAPL": "equity"})
    for name in UNRELATED:
        client.set(name, "keep me")


def test_audit_counts_only_contract_keys_without_ttl(sync_redis: redis.Redis) -> None:
    foreign_keyspace(sync_redis)
    sync_redis.expire(keys.novelty("AAPL"), 500)
    counts = ttl.audit(sync_redis)
    assert counts == {"regime:{*}:*": 4, "novelty:{*}": 1, "corr:{*}:*": 2, "idx:{*}": 1,
                      keys.EVENTS: 1, keys.UNIVERSE: 1}


def test_fix_gives_every_contract_key_a_ttl_and_touches_nothing_else(
        sync_redis: redis.Redis) -> None:
    foreign_keyspace(sync_redis)
    sync_redis.expire(keys.corr("AAPL", "MSFT"), 120)  # an existing TTL: kept as it is
    sync_redis.expire(keys.regime("BINANCE:BTC-USDT", "1d"), 999_999)
    seen: list[int] = []
    report = ttl.fix(sync_redis, 7200, seen.append)
    assert report.remaining == 0
    assert report.fixed == 4 + 2 + 1 + 1 + 1 + 1 - 1  # all TTL-less ones, not the two with TTL
    assert sum(seen) == report.scanned
    assert sum(ttl.audit(sync_redis).values()) == 0
    assert 0 < sync_redis.ttl(keys.corr("AAPL", "MSFT")) <= 120
    assert sync_redis.ttl(keys.regime("BINANCE:BTC-USDT", "1d")) > 7200
    assert 7100 < sync_redis.ttl(keys.regime("AAPL", "1h")) <= 7200
    for name in UNRELATED:
        assert sync_redis.ttl(name) == -1 and sync_redis.get(name) == "keep me"


def test_an_index_gets_the_longest_ttl_among_its_members(sync_redis: redis.Redis) -> None:
    sync_redis.set(keys.novelty("AAPL"), "{}", ex=50_000)
    sync_redis.set(keys.corr("AAPL", "MSFT"), "{}", ex=90_000)
    sync_redis.sadd(keys.index("AAPL"), keys.novelty("AAPL"), keys.corr("AAPL", "MSFT"),
                    keys.regime("AAPL", "1h"))  # the last one no longer exists
    sync_redis.sadd(keys.index("MSFT"), keys.novelty("MSFT"))  # lists nothing existing
    ttl.fix(sync_redis, 3600)
    assert 89_990 < sync_redis.ttl(keys.index("AAPL")) <= 90_000
    assert 3590 < sync_redis.ttl(keys.index("MSFT")) <= 3600


def test_an_index_of_ttl_less_members_outlives_them_after_fix(sync_redis: redis.Redis) -> None:
    sync_redis.set(keys.novelty("AAPL"), "{}")
    sync_redis.sadd(keys.index("AAPL"), keys.novelty("AAPL"))
    ttl.fix(sync_redis, 3600)
    assert sync_redis.ttl(keys.index("AAPL")) >= sync_redis.ttl(keys.novelty("AAPL")) > 0


def test_fix_is_idempotent_and_resumable(sync_redis: redis.Redis) -> None:
    foreign_keyspace(sync_redis)
    first = ttl.fix(sync_redis, 7200)
    ttls = {k: sync_redis.ttl(k) for k in sync_redis.scan_iter(count=1000)}
    again = ttl.fix(sync_redis, 60)  # a second run, even with another TTL, changes nothing
    assert first.fixed > 0 and again.fixed == 0 and again.remaining == 0
    for name, before in ttls.items():
        assert sync_redis.ttl(name) in (before, before - 1)


def test_a_foreign_index_of_the_wrong_type_still_gets_a_ttl(sync_redis: redis.Redis) -> None:
    sync_redis.set(keys.index("AAPL"), "not a set")
    assert ttl.fix(sync_redis, 3600).remaining == 0
    assert sync_redis.get(keys.index("AAPL")) == "not a set"
