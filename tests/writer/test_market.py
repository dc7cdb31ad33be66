from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from argus import keys
from argus.data.namespaces import regime as regime_namespace
from argus.settings import Settings
from argus.symbols import Normalizer
from argus.writer import market, resample
from argus.writer.clickhouse import ClickHouse
from argus.writer.compute import compute


def checksum(ch: ClickHouse, table: str) -> tuple[int, float]:
    count, total = ch.rows(f"SELECT count(), round(sum(close * volume), 3) FROM {table}")[0]
    return int(count), float(total)


def test_generate_is_deterministic_per_seed(ch: ClickHouse, settings: Settings, table: str) -> None:
    market.generate(ch, settings, 12, 96, seed=7, table=table)
    first = checksum(ch, table)
    market.generate(ch, settings, 12, 96, seed=7, table=table)  # replaces, never doubles
    assert checksum(ch, table) == first
    market.generate(ch, settings, 12, 96, seed=8, table=table)
    assert checksum(ch, table)[0] == first[0]
    assert checksum(ch, table)[1] != first[1]


def test_generated_names_are_canonical_crypto_pairs_and_equities(settings: Settings) -> None:
    normalizer = Normalizer.from_settings(settings)
    names = market.symbol_names(500, normalizer)
    assert len(names) == len({n for n, _ in names}) == 500
    assert all(normalizer.normalize(n) == n for n, _ in names)
    kinds = {k for _, k in names}
    assert kinds == {"crypto", "equity"}
    assert ("BINANCE:BTC-USDT", "crypto") in names and ("AAPL", "equity") in names


def test_layout_gives_every_timeframe_its_own_bar_size(ch: ClickHouse, settings: Settings,
                                                      table: str) -> None:
    market.generate(ch, settings, 3, 240, seed=1, table=table)
    sizes = ch.rows(f"SELECT bar_seconds, count() FROM {table} GROUP BY bar_seconds "
                    "ORDER BY bar_seconds")
    assert [s for s, _ in sizes] == sorted(keys.TIMEFRAME_SECONDS.values())
    assert sum(c for _, c in sizes) == 3 * 240 and all(c >= 3 for _, c in sizes)
    # Tiers do not overlap: the finest is the most recent.
    latest: dict[int, Any] = {
        s: ts for s, ts in ch.rows(f"SELECT bar_seconds, max(ts) FROM {table} GROUP BY bar_seconds")}
    earliest: dict[int, Any] = {
        s: ts for s, ts in ch.rows(f"SELECT bar_seconds, min(ts) FROM {table} GROUP BY bar_seconds")}
    for finer, coarser in zip(keys.TIMEFRAMES, keys.TIMEFRAMES[1:], strict=False):
        s_f, s_c = keys.TIMEFRAME_SECONDS[finer], keys.TIMEFRAME_SECONDS[coarser]
        assert latest[s_c] < earliest[s_f]


def test_the_default_layout_gives_every_timeframe_the_buckets_its_regime_needs(
        ch: ClickHouse, settings: Settings, table: str) -> None:
    # Twice the trend horizon and the variance ratio's returns, finished buckets only.
    market.generate(ch, settings, 2, seed=5, table=table)
    now = market.DEFAULT_END.timestamp()
    for tf in keys.TIMEFRAMES:
        panel = resample.load(ch, tf, 10_000, table=table, now=now)
        assert panel.counts.min() >= market.buckets_needed(tf), (tf, panel.counts)


def test_more_bars_than_the_default_never_give_a_timeframe_fewer_buckets() -> None:
    least = [t.count for t in market.layout()]
    assert sum(least) == market.default_bars()
    for bars in (market.default_bars() + 1, 800, 2_000):
        tiers = market.layout(bars)
        assert sum(t.count for t in tiers) == bars
        assert all(t.count >= m for t, m in zip(tiers, least, strict=True))


def test_every_timeframe_has_a_regime_at_default_bars(ch: ClickHouse, settings: Settings,
                                                      table: str) -> None:
    market.generate(ch, settings, 6, 520, seed=3, table=table)
    outputs = compute(ch, settings, table=table).outputs
    assert len(outputs) == 6
    declared = {"regime", "computed_at", *(f.name for f in regime_namespace.FIELDS)}
    for out in outputs:
        assert set(out.regimes) == set(keys.TIMEFRAMES)
        # Every field the namespace declares is computed, and nothing else.
        assert all(set(h) == declared for h in out.regimes.values())
        assert out.novelty is not None
        assert out.correlations


def test_bars_are_valid_ohlcv(ch: ClickHouse, settings: Settings, table: str) -> None:
    market.generate(ch, settings, 5, 160, seed=2, table=table)
    bad = ch.scalar(f"SELECT countIf(NOT (low <= least(open, close) AND high >= greatest(open, "
                    f"close) AND low > 0 AND volume > 0)) FROM {table}")
    assert bad == 0


def test_groups_make_correlations_meaningful(ch: ClickHouse, settings: Settings,
                                             table: str) -> None:
    market.generate(ch, settings, 80, 520, seed=4, table=table)
    panel = resample.load(ch, "15m", 500, aligned=True, table=table)
    corr = np.corrcoef(np.nan_to_num(resample.log_returns(panel.close)))
    assert isinstance(corr, np.ndarray)  # a matrix for a 2-D input, never a scalar
    np.fill_diagonal(corr, np.nan)
    # Same-group pairs correlate clearly; most pairs (different groups) barely do.
    assert np.nanmax(corr) > 0.5
    assert abs(np.nanmedian(corr)) < 0.2


def test_too_few_bars_is_refused(ch: ClickHouse, settings: Settings, table: str) -> None:
    with pytest.raises(ValueError, match="at least 8"):
        market.generate(ch, settings, 3, 5, table=table)


def test_extend_adds_one_minute_to_every_minute_series_in_step_with_its_volatility(
        ch: ClickHouse, settings: Settings, table: str) -> None:
    market.generate(ch, settings, 12, seed=7, table=table)
    query = (f"SELECT symbol, max(ts), argMax(close, ts), count() FROM {table}"
             " WHERE bar_seconds = 60 GROUP BY symbol ORDER BY symbol")
    before = {s: (ts, close, n) for s, ts, close, n in ch.rows(query)}
    assert market.extend(ch, tick=0, seed=7, table=table) == len(before) == 12
    after = {s: (ts, close, n) for s, ts, close, n in ch.rows(query)}
    steps = []
    for symbol, (ts, close, n) in before.items():
        new_ts, new_close, new_n = after[symbol]
        assert (new_ts - ts).total_seconds() == 60 and new_n == n + 1
        closes = np.array([c for (c,) in ch.rows(
            f"SELECT close FROM {table} WHERE symbol = {{s:String}} AND bar_seconds = 60"
            " ORDER BY ts", {"s": symbol})])
        sigma = float(np.sqrt(np.mean(np.diff(np.log(closes[-62:-1])) ** 2)))
        steps.append(np.log(new_close / close) / sigma)
    assert max(abs(z) for z in steps) < 5  # steps of the series' own size, not jumps
    assert len(set(np.round(steps, 6))) == 12  # each symbol its own draw
    # Deterministic per seed and tick: the same tick on a copy gives the same bars.
    ch.command(f"CREATE TABLE {table}_copy AS {table}")
    try:
        ch.command(f"INSERT INTO {table}_copy SELECT * FROM {table}")
        market.extend(ch, tick=1, seed=7, table=table)
        market.extend(ch, tick=1, seed=7, table=f"{table}_copy")
        last = "SELECT symbol, argMax(close, ts) FROM {} WHERE bar_seconds = 60 GROUP BY symbol ORDER BY symbol"
        assert ch.rows(last.format(table)) == ch.rows(last.format(f"{table}_copy"))
    finally:
        ch.command(f"DROP TABLE {table}_copy")
