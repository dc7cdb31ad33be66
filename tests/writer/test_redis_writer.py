from __future__ import annotations

from typing import cast

import redis

from argus import keys
from argus.settings import Settings
from argus.writer.compute import SymbolOutput
from argus.writer.redis_writer import RedisWriter

NOW = "1795000000.500"


def regime_hash(label: str) -> dict[str, str]:
    return {"regime": label, "confidence": "0.8", "volatility": "0.5", "trend": "1.2",
            "computed_at": NOW, "model": "argus-regime/1"}


def output(symbol: str, labels: dict[str, str], partners: list[str],
           novelty: bool = True) -> SymbolOutput:
    return SymbolOutput(
        symbol,
        regimes={tf: regime_hash(label) for tf, label in labels.items()},
        novelty='{"score":0.5,"window":100,"computed_at":1795000000.5}' if novelty else None,
        correlations={p: '{"coefficient":0.9,"window":100}' for p in partners})


def writer(url: str, ttl: int = 3600) -> RedisWriter:
    settings = Settings.from_env({}, redis_url=url, ttl=ttl, write_batch=2)
    return RedisWriter(redis.Redis.from_url(url), settings)


def contract_keys(client: redis.Redis) -> list[str]:
    names: list[str] = []
    for pattern in keys.CONTRACT_PATTERNS:
        names += [k if isinstance(k, str) else k.decode()
                  for k in client.scan_iter(match=pattern, count=1000)]
    return names


def assert_consistent(client: redis.Redis) -> None:
    for name in contract_keys(client):
        assert client.ttl(name) > 0, name
        if name.startswith("idx:"):
            members = list(client.smembers(name))
            assert all(client.exists(m) for m in members), (name, members)
            assert all(client.ttl(name) >= client.ttl(m) for m in members)


def test_every_written_key_has_a_ttl_and_the_index_lists_exactly_them(
        redis_url: str, sync_redis: redis.Redis) -> None:
    outs = [output("BINANCE:BTC-USDT", {"1h": "trending_up", "1d": "ranging"},
                   ["BINANCE:ETH-USDT", "AAPL"]),
            output("AAPL", {"1d": "volatile"}, ["BINANCE:BTC-USDT"], novelty=False),
            output("MSFT", {"1h": "ranging"}, [])]
    report = writer(redis_url, ttl=3600).write(outs)
    assert report.symbols == 3
    assert report.keys == 9 + 3  # data keys plus one index per symbol
    assert_consistent(sync_redis)
    assert sync_redis.smembers(keys.index("BINANCE:BTC-USDT")) == {
        keys.regime("BINANCE:BTC-USDT", "1h"), keys.regime("BINANCE:BTC-USDT", "1d"),
        keys.novelty("BINANCE:BTC-USDT"), keys.corr("BINANCE:BTC-USDT", "BINANCE:ETH-USDT"),
        keys.corr("BINANCE:BTC-USDT", "AAPL")}
    assert 3590 < sync_redis.ttl(keys.regime("AAPL", "1d")) <= 3600
    assert sync_redis.hgetall(keys.regime("AAPL", "1d"))["regime"] == "volatile"
    assert sync_redis.get(keys.corr("AAPL", "BINANCE:BTC-USDT")) is not None
    assert sync_redis.hgetall(keys.UNIVERSE) == {"BINANCE:BTC-USDT": "crypto",
                                                  "AAPL": "equity", "MSFT": "equity"}
    for singleton in keys.CONTRACT_SINGLETONS:
        assert 0 < sync_redis.ttl(singleton) <= 3600


def test_dropped_partners_and_vanished_timeframes_are_deleted_and_leave_the_index(
        redis_url: str, sync_redis: redis.Redis) -> None:
    w = writer(redis_url)
    w.write([output("AAPL", {"1h": "ranging", "1d": "ranging"}, ["MSFT", "NVDA"])])
    w.write([output("AAPL", {"1d": "ranging"}, ["NVDA", "GOOGL"], novelty=False)])
    assert not sync_redis.exists(keys.regime("AAPL", "1h"))
    assert not sync_redis.exists(keys.corr("AAPL", "MSFT"))
    assert not sync_redis.exists(keys.novelty("AAPL"))
    assert sync_redis.smembers(keys.index("AAPL")) == {
        keys.regime("AAPL", "1d"), keys.corr("AAPL", "NVDA"), keys.corr("AAPL", "GOOGL")}
    assert_consistent(sync_redis)


def test_a_symbol_with_nothing_left_loses_its_index(redis_url: str,
                                                    sync_redis: redis.Redis) -> None:
    w = writer(redis_url)
    w.write([output("AAPL", {"1h": "ranging"}, ["MSFT"])])
    w.write([output("AAPL", {}, [], novelty=False)])
    assert contract_keys(sync_redis) == []


def test_stale_fields_of_a_foreign_hash_are_replaced(redis_url: str,
                                                     sync_redis: redis.Redis) -> None:
    sync_redis.hset(keys.regime("AAPL", "1h"), mapping={"regime": "ranging", "legacy": "x"})
    writer(redis_url).write([output("AAPL", {"1h": "ranging"}, [])])
    assert "legacy" not in sync_redis.hgetall(keys.regime("AAPL", "1h"))


def test_index_members_of_other_symbols_are_never_deleted(redis_url: str,
                                                          sync_redis: redis.Redis) -> None:
    sync_redis.set(keys.novelty("MSFT"), '{"score":1}')
    sync_redis.sadd(keys.index("AAPL"), keys.novelty("MSFT"))  # a corrupt foreign index
    writer(redis_url).write([output("AAPL", {"1h": "ranging"}, [])])
    assert sync_redis.exists(keys.novelty("MSFT"))
    assert sync_redis.smembers(keys.index("AAPL")) == {keys.regime("AAPL", "1h"),
                                                         keys.novelty("AAPL")}


def test_events_are_appended_only_when_a_label_changes(redis_url: str,
                                                       sync_redis: redis.Redis) -> None:
    w = writer(redis_url)
    first = w.write([output("AAPL", {"1h": "ranging", "1d": "trending_up"}, [])])
    assert len(first.changes) == 2  # first appearance: previous is empty
    w.write([output("AAPL", {"1h": "ranging", "1d": "trending_up"}, [])])
    third = w.write([output("AAPL", {"1h": "volatile", "1d": "trending_up"}, [])])
    assert [(c.timeframe, c.label, c.previous) for c in third.changes] == [
        ("1h", "volatile", "ranging")]
    # decode_responses=True: ids and fields are text, and XRANGE never answers None.
    entries = cast("list[tuple[str, dict[str, str]]]", sync_redis.xrange(keys.EVENTS))
    assert len(entries) == 3
    assert entries[-1][1] == {"kind": "regime", "symbol": "AAPL", "tf": "1h",
                              "label": "volatile", "previous": "ranging", "computed_at": NOW}
    assert {e[1]["previous"] for e in entries[:2]} == {""}


def test_many_symbols_in_several_batches(redis_url: str, sync_redis: redis.Redis) -> None:
    outs = [output(f"S{i:03d}", {"1h": "ranging", "4h": "trending_down"},
                   [f"S{(i + j) % 50:03d}" for j in range(1, 41)]) for i in range(50)]
    report = writer(redis_url).write(outs)
    assert report.symbols == 50
    assert sync_redis.scard(keys.index("S007")) == 2 + 1 + 40
    assert_consistent(sync_redis)
