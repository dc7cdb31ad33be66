from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from argus.settings import Settings
from argus.writer import market, resample
from argus.writer.clickhouse import ClickHouse

DAY = 86_400


def daily_bars(ch: ClickHouse, table: str, first: dt.date, last: dt.date,
               symbol: str = "SPX") -> list[dt.date]:
    """One 1-day bar per weekday from ``first`` to ``last``, close = the day's ordinal."""
    days = [first + dt.timedelta(d) for d in range((last - first).days + 1)]
    days = [d for d in days if d.weekday() < 5]
    ts = [int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()) for d in days]
    close = [float(d.toordinal()) for d in days]
    market.create_table(ch, table)
    ch.client.insert_arrow(table, pa.table({
        "symbol": pa.array([symbol] * len(days), pa.string()),
        "ts": pa.array(ts, pa.uint32()), "bar_seconds": pa.array([DAY] * len(days), pa.uint32()),
        "open": pa.array(close), "high": pa.array(close), "low": pa.array(close),
        "close": pa.array(close), "volume": pa.array([1.0] * len(days)),
    }))
    return days


def at(day: dt.date, hour: int = 0) -> float:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC).timestamp()


def closes(ch: ClickHouse, table: str, tf: str, now: float) -> list[float]:
    panel = resample.load(ch, tf, 50, table=table, now=now)
    row = panel.close[0]
    return [float(x) for x in row[~np.isnan(row)]]


def test_the_current_week_is_left_out_until_it_is_over(ch: ClickHouse, table: str) -> None:
    # Monday 2 June 2025 to Wednesday 18 June: two whole weeks and a started one.
    daily_bars(ch, table, dt.date(2025, 6, 2), dt.date(2025, 6, 18))
    wednesday_evening = at(dt.date(2025, 6, 18), 21)
    weeks = closes(ch, table, "1w", wednesday_evening)
    assert weeks == [dt.date(2025, 6, 6).toordinal(), dt.date(2025, 6, 13).toordinal()]
    # Once the week is over (Monday 00:00) it counts, ending on its last bar.
    after = closes(ch, table, "1w", at(dt.date(2025, 6, 23)))
    assert after[-1] == dt.date(2025, 6, 18).toordinal() and len(after) == 3


def test_a_daily_bar_completes_its_day_and_the_month_waits(ch: ClickHouse, table: str) -> None:
    daily_bars(ch, table, dt.date(2025, 4, 1), dt.date(2025, 6, 18))
    # The evening of the 18th: the 18th's bar is a whole day, June is not a whole month.
    days = closes(ch, table, "1d", at(dt.date(2025, 6, 18), 21))
    assert days[-1] == dt.date(2025, 6, 18).toordinal()
    months = closes(ch, table, "1M", at(dt.date(2025, 6, 18), 21))
    assert months == [dt.date(2025, 4, 30).toordinal(), dt.date(2025, 5, 30).toordinal()]


def test_buckets_work_on_a_datetime64_ts_before_1970(ch: ClickHouse, table: str) -> None:
    ch.command(f"CREATE TABLE {table} (symbol LowCardinality(String), ts DateTime64(0, 'UTC'),"
               " bar_seconds UInt32, open Float64, high Float64, low Float64, close Float64,"
               " volume Float64) ENGINE = MergeTree ORDER BY (symbol, ts)")
    ch.command(f"INSERT INTO {table} SELECT 'OLD', toDateTime64('1960-01-04', 0, 'UTC')"
               " + toIntervalDay(number), 86400, 1, 1, 1, number + 1, 1 FROM numbers(70)")
    panel = resample.load(ch, "1M", 10, table=table, now=at(dt.date(1960, 3, 14)))
    row = panel.close[0]
    # January (31 days: closes 1..31) and February 1960 (29 days) are whole, March is not.
    assert [float(x) for x in row[~np.isnan(row)]] == [28.0, 57.0]
    weeks = resample.load(ch, "1w", 20, table=table, now=at(dt.date(1960, 3, 14))).close[0]
    assert float(weeks[~np.isnan(weeks)][0]) == pytest.approx(7.0)


@pytest.mark.parametrize("aligned", [False, True])
def test_a_panel_is_the_same_whatever_order_clickhouse_sends_the_rows(
        ch: ClickHouse, table: str, settings: Settings, aligned: bool) -> None:
    market.generate(ch, settings, 30, 240, seed=11, table=table)
    now = market.DEFAULT_END.timestamp()
    for tf in ("1m", "1h", "1M"):
        ordered = ch.arrow(resample.query(tf, table, now=now))
        unordered = ch.arrow(resample.query(tf, table, now=now, ordered=False))
        shuffled = ordered.take(np.random.default_rng(1).permutation(ordered.num_rows))
        want = resample.build(ordered, tf, 50, aligned=aligned)
        assert want.symbols == sorted(want.symbols) and len(want.symbols) == 30
        for data in (unordered, shuffled):
            got = resample.build(data, tf, 50, aligned=aligned)
            assert got.symbols == want.symbols
            np.testing.assert_array_equal(got.close, want.close)
            np.testing.assert_array_equal(got.volume, want.volume)
            np.testing.assert_array_equal(got.counts, want.counts)
