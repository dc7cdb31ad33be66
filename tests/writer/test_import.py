from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from argus import keys
from argus.errors import DataSourceError
from argus.settings import Settings
from argus.writer import importer, market, resample
from argus.writer.clickhouse import ClickHouse
from argus.writer.compute import compute

HEADER = "symbol,ts,open,high,low,close,volume\n"
GOOD = [
    "btc-usd,2024-01-01T00:00:00Z,100,101,99,100.5,10\n",
    "BTCUSDT,1704070800,100.5,102,100,101,12\n",
    "aapl,2024-01-01,10,11,9,10.5,100\n",
]


def write_csv(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text(header + "".join(lines))
    return path


def count(ch: ClickHouse, table: str) -> int:
    market.create_table(ch, table)
    return int(ch.scalar(f"SELECT count() FROM {table}"))


def test_csv_is_loaded_with_symbols_normalized(ch: ClickHouse, settings: Settings, table: str,
                                               tmp_path: Path) -> None:
    assert importer.import_file(ch, settings, write_csv(tmp_path, GOOD), table) == 3
    rows = ch.rows(f"SELECT symbol, toUnixTimestamp(ts), close FROM {table} ORDER BY symbol, ts")
    assert rows == [("AAPL", 1704067200, 10.5), ("BINANCE:BTC-USDT", 1704067200, 100.5),
                    ("BINANCE:BTC-USDT", 1704070800, 101.0)]


def test_importing_twice_replaces_instead_of_doubling(ch: ClickHouse, settings: Settings,
                                                      table: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD)
    importer.import_file(ch, settings, path, table)
    importer.import_file(ch, settings, path, table)
    assert count(ch, table) == 3


def test_parquet_is_loaded(ch: ClickHouse, settings: Settings, table: str,
                           tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    pq.write_table(pa.table({"symbol": ["ETH"], "ts": [1704067200], "open": [1.0],
                             "high": [2.0], "low": [0.5], "close": [1.5],
                             "volume": [3.0]}), path)
    assert importer.import_file(ch, settings, path, table) == 1
    assert ch.rows(f"SELECT symbol FROM {table}") == [("BINANCE:ETH-USDT",)]


@pytest.mark.parametrize(("bad_line", "message"), [
    ("AAPL,yesterday,10,11,9,10.5,100\n", "line 3: bad timestamp 'yesterday'"),
    ("AAPL,2024-01-02,10,eleven,9,10.5,100\n", "line 3: high must be a positive number"),
    ("AAPL,2024-01-02,10,11,9,,100\n", "line 3: close must be a positive number"),
    ("AAPL,2024-01-02,10,11,9,10.5,-1\n", "line 3: volume must be a positive number"),
    ("AAPL,2024-01-02,10,11,9,0,100\n", "line 3: close must be a positive number"),
    ("AAPL,2024-01-02,10,9,11,10.5,100\n", "line 3: high/low do not bracket"),
    ("AA PL,2024-01-02,10,11,9,10.5,100\n", "line 3: Invalid symbol 'AA PL'"),
    (",2024-01-02,10,11,9,10.5,100\n", "line 3: Invalid symbol ''"),
    ("aapl,2024-01-01T00:00:00,10,11,9,10.5,100\n", "line 3: duplicate bar for AAPL"),
])
def test_a_bad_row_is_reported_by_line_and_nothing_is_loaded(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path,
        bad_line: str, message: str) -> None:
    lines = [GOOD[2], bad_line, GOOD[0]]
    with pytest.raises(DataSourceError, match=message.replace("(", r"\(")):
        importer.import_file(ch, settings, write_csv(tmp_path, lines), table)
    assert count(ch, table) == 0


@pytest.mark.parametrize(("header", "lines", "message"), [
    ("symbol,ts,open,high,low,close\n", ["AAPL,1,2,3,1,2\n"], "missing column.*volume"),
    (HEADER, [GOOD[0], "AAPL,1,2,3\n"], "line 3: expected 7 fields, got 4"),
    (HEADER, [], "no bars"),
    ("", [], "empty"),
])
def test_files_without_bars_or_columns_load_nothing(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path,
        header: str, lines: list[str], message: str) -> None:
    with pytest.raises(DataSourceError, match=message):
        importer.import_file(ch, settings, write_csv(tmp_path, lines, header), table)
    assert count(ch, table) == 0


def test_a_bad_file_leaves_earlier_imports_untouched(ch: ClickHouse, settings: Settings,
                                                     table: str, tmp_path: Path) -> None:
    importer.import_file(ch, settings, write_csv(tmp_path, GOOD), table)
    with pytest.raises(DataSourceError):
        importer.import_file(ch, settings, write_csv(tmp_path, [GOOD[0], "x,1,a,b,c,d,e\n"]),
                             table)
    assert count(ch, table) == 3


def test_missing_and_non_tabular_files_are_errors(ch: ClickHouse, settings: Settings,
                                                  table: str, tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="no such file"):
        importer.import_file(ch, settings, tmp_path / "nope.csv", table)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    with pytest.raises(DataSourceError, match="not a readable"):
        importer.import_file(ch, settings, junk, table)


def test_daily_data_gets_no_regime_finer_than_a_day(ch: ClickHouse, settings: Settings,
                                                    table: str, tmp_path: Path) -> None:
    start = 1_600_000_000 - 1_600_000_000 % 86_400
    lines = []
    price = 100.0
    for day in range(400):
        price *= 1.001 if day % 3 else 0.999
        lines.append(f"AAPL,{start + day * 86_400},{price},{price * 1.01},{price * 0.99},"
                     f"{price},{1000 + day}\n")
    importer.import_file(ch, settings, write_csv(tmp_path, lines), table)
    assert ch.rows(f"SELECT DISTINCT bar_seconds FROM {table}") == [(86_400,)]
    out = compute(ch, settings, table=table).outputs[0]
    # 400 days: enough daily and weekly buckets, only 13 months (< 20 returns): no 1M key.
    assert set(out.regimes) == {"1d", "1w"}
    assert not set(out.regimes) & {"1m", "5m", "15m", "1h", "4h", "1M"}
    assert set(keys.TIMEFRAMES) > set(out.regimes)


# --- issue 10: bar sizes that cannot drift -------------------------------------------------

#: NYSE-style closures in the span the tests use (weekends aside).
HOLIDAYS = {dt.date(2018, 1, 1), dt.date(2018, 1, 15), dt.date(2018, 2, 19),
            dt.date(2018, 3, 30), dt.date(2018, 5, 28), dt.date(2018, 7, 4),
            dt.date(2018, 9, 3), dt.date(2018, 11, 22), dt.date(2018, 12, 5),
            dt.date(2018, 12, 25), dt.date(2019, 1, 1), dt.date(2019, 1, 21),
            dt.date(2019, 2, 18), dt.date(2019, 4, 19), dt.date(2019, 5, 27),
            dt.date(2019, 7, 4)}


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days = [start + dt.timedelta(d) for d in range((end - start).days + 1)]
    return [d for d in days if d.weekday() < 5 and d not in HOLIDAYS]


def daily_lines(symbol: str, days: list[dt.date], seed: int = 1,
                ts: Callable[[dt.date], str] = dt.date.isoformat) -> list[str]:
    rng = np.random.default_rng(seed)
    price, out = 100.0, []
    for day in days:
        price *= math.exp(rng.normal(0.0003, 0.012))
        out.append(f"{symbol},{ts(day)},{price:.4f},{price * 1.01:.4f},{price * 0.99:.4f},"
                   f"{price:.4f},{1000 + rng.integers(0, 500)}\n")
    return out


def sizes(ch: ClickHouse, table: str, symbol: str = "AAPL") -> dict[str, int]:
    return {str(d): int(s) for d, s in ch.rows(
        f"SELECT toDate(ts), bar_seconds FROM {table} WHERE symbol = {{s:String}} ORDER BY ts",
        {"s": symbol})}


def test_a_files_last_bar_after_a_weekend_is_one_day(ch: ClickHouse, settings: Settings,
                                                     table: str, tmp_path: Path) -> None:
    days = trading_days(dt.date(2018, 10, 1), dt.date(2018, 10, 15))  # ends on a Monday
    importer.import_file(ch, settings, write_csv(tmp_path, daily_lines("AAPL", days)), table)
    assert sizes(ch, table)["2018-10-15"] == 86_400
    assert set(sizes(ch, table).values()) == {86_400}


def test_a_lone_session_between_a_holiday_and_a_weekend_is_one_day(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    days = trading_days(dt.date(2018, 11, 1), dt.date(2018, 12, 31))
    importer.import_file(ch, settings, write_csv(tmp_path, daily_lines("AAPL", days)), table)
    stored = sizes(ch, table)
    assert stored["2018-11-23"] == 86_400  # the Friday after Thanksgiving
    assert stored["2018-12-24"] == 86_400  # Monday between a weekend and Christmas
    assert set(stored.values()) == {86_400}


def test_a_one_row_daily_append_is_sized_from_the_stored_series(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    days = trading_days(dt.date(2018, 10, 1), dt.date(2018, 10, 22))
    lines = daily_lines("AAPL", days)
    importer.import_file(ch, settings, write_csv(tmp_path, lines[:-1]), table)  # to Friday
    importer.import_file(ch, settings, write_csv(tmp_path, lines[-1:]), table)  # the Monday
    assert sizes(ch, table)["2018-10-22"] == 86_400
    assert set(sizes(ch, table).values()) == {86_400}


def test_a_lone_first_bar_is_left_out_until_a_second_sizes_it(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    lines = daily_lines("AAPL", trading_days(dt.date(2018, 10, 4), dt.date(2018, 10, 8)))
    notes: list[str] = []
    importer.import_file(ch, settings, write_csv(tmp_path, lines[:1]), table, warn=notes.append)
    assert sizes(ch, table) == {"2018-10-04": market.UNKNOWN_SIZE}
    assert notes and "AAPL: one bar and none stored" in notes[0]
    assert all(resample.load(ch, tf, 10, table=table).size == 0 for tf in keys.TIMEFRAMES)
    importer.import_file(ch, settings, write_csv(tmp_path, lines[1:]), table)
    assert sizes(ch, table) == {"2018-10-04": 86_400, "2018-10-05": 86_400,
                                "2018-10-08": 86_400}


def test_an_explicit_bar_size_wins(ch: ClickHouse, settings: Settings, table: str,
                                   tmp_path: Path) -> None:
    lines = daily_lines("AAPL", trading_days(dt.date(2018, 10, 4), dt.date(2018, 10, 8)))
    importer.import_file(ch, settings, write_csv(tmp_path, lines[1:2]), table,
                         options=importer.Options(bar_size=importer.parse_bar_size("1d")))
    assert sizes(ch, table) == {"2018-10-05": 86_400}
    importer.import_file(ch, settings, write_csv(tmp_path, lines[2:]), table,
                         options=importer.Options(bar_size=importer.parse_bar_size("1h")))
    assert sizes(ch, table) == {"2018-10-05": 86_400, "2018-10-08": 3_600}  # as told
    other = f"{table}_other"
    try:
        importer.import_file(ch, settings, write_csv(tmp_path, lines[:1]), other)
        importer.import_file(ch, settings, write_csv(tmp_path, lines[1:2]), other,
                             options=importer.Options(bar_size=86_400))
        assert sizes(ch, other) == {"2018-10-04": 86_400, "2018-10-05": 86_400}
    finally:
        ch.command(f"DROP TABLE IF EXISTS {other}")
    assert [importer.parse_bar_size(t) for t in ("60s", "5m", "1h", "1d", "1w", "1M")] == [
        60, 300, 3_600, 86_400, 604_800, 2_592_000]
    with pytest.raises(ValueError, match="bad --bar-size"):
        importer.parse_bar_size("daily")


def test_the_generators_mixed_layout_is_sized_per_segment(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    market.generate(ch, settings, symbols=1, bars=520, table=table)
    rows = ch.rows(f"SELECT symbol, toInt64(ts), open, high, low, close, volume, bar_seconds"
                   f" FROM {table} ORDER BY ts")
    path = write_csv(tmp_path, [",".join(map(str, r[:7])) + "\n" for r in rows])
    copy = f"{table}_copy"
    try:
        importer.import_file(ch, settings, path, copy)
        got = [int(s) for (s,) in ch.rows(f"SELECT bar_seconds FROM {copy} ORDER BY ts")]
    finally:
        ch.command(f"DROP TABLE IF EXISTS {copy}")
    assert got == [int(r[7]) for r in rows]
    assert len(set(got)) == len(keys.TIMEFRAMES)


def regime_values(client: redis.Redis) -> dict[str, Any]:
    """Every contract value in Redis, ``computed_at`` left out."""
    out: dict[str, Any] = {}
    for key in client.scan_iter():
        name = key.decode()
        if client.type(key) == b"hash" and name.startswith("regime:"):
            out[name] = {k: v for k, v in client.hgetall(key).items() if k != b"computed_at"}
        elif client.type(key) == b"string":
            value = json.loads(client.get(key) or b"{}")
            out[name] = {k: v for k, v in value.items() if k != "computed_at"}
    return out


def test_appending_a_bar_a_day_equals_importing_the_history_at_once(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path, redis_url: str) -> None:
    from argus.writer.run import refresh

    days = trading_days(dt.date(2018, 6, 1), dt.date(2018, 12, 31))
    history = {s: daily_lines(s, days, seed) for s, seed in (("AAPL", 1), ("MSFT", 2))}
    at_once = f"{table}_at_once"
    importer.import_file(ch, settings, write_csv(tmp_path, history["AAPL"] + history["MSFT"]),
                         at_once)
    for day in range(len(days)):
        importer.import_file(ch, settings, write_csv(
            tmp_path, [history["AAPL"][day], history["MSFT"][day]]), table)
    query = "SELECT symbol, toInt64(ts), bar_seconds, open, high, low, close, volume FROM {} " \
            "ORDER BY symbol, ts"
    try:
        appended = ch.rows(query.format(table))
        assert appended == ch.rows(query.format(at_once))
        assert {int(r[2]) for r in appended} == {86_400}
        client = redis.Redis.from_url(redis_url)
        writer_settings = Settings.from_env({}, data_dir=settings.data_dir, redis_url=redis_url)
        values = []
        for name in (at_once, table):
            client.flushall()
            refresh(writer_settings, client, table=name)
            values.append(regime_values(client))
        client.close()
    finally:
        ch.command(f"DROP TABLE IF EXISTS {at_once}")
    assert values[0] == values[1]
    assert any(k.startswith("regime:{AAPL}:1d") for k in values[0])
    assert any(k.startswith("corr:") for k in values[0])


# --- issue 10: timestamps -----------------------------------------------------------------

def stored_times(ch: ClickHouse, table: str) -> list[str]:
    return [str(t) for (t,) in ch.rows(f"SELECT {TEXT} FROM {table} ORDER BY ts")]


#: ``ts`` as text, the same for ``DateTime`` and ``DateTime64`` columns.
TEXT = "formatDateTime(ts, '%Y-%m-%d %H:%i:%S')"


@pytest.mark.parametrize(("cell", "options", "message"), [
    ("19990104", {}, "line 2: timestamp '19990104' looks like a YYYYMMDD date"),
    ("1704067200000", {}, "line 2: .* looks like milliseconds.*--ts-unit"),
    ("1704067200000000000", {}, "line 2: .* looks like nanoseconds.*--ts-unit"),
    ("1704067200500", {"ts_unit": "ms"}, "line 2: .* whole seconds"),
    ("1704067200.5", {}, "line 2: .* whole seconds"),
    ("1800-01-01", {}, "line 2: .* outside 1900-01-01 to 2299-12-31"),
])
def test_timestamps_that_cannot_be_read_for_sure_are_refused_by_line(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path,
        cell: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(DataSourceError, match=message):
        importer.import_file(ch, settings, write_csv(tmp_path, [
            f"AAPL,{cell},10,11,9,10.5,100\n", "AAPL,2024-01-08,10,11,9,10.5,100\n"]), table,
            options=importer.Options(**options) if options else None)
    assert count(ch, table) == 0


@pytest.mark.parametrize(("unit", "scale"), [("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_sub_second_units_are_read_when_the_flag_says_so(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path,
        unit: str, scale: int) -> None:
    lines = [f"BTC,{(1704067200 + h * 3600) * scale},1,2,1,1,1\n" for h in range(3)]
    importer.import_file(ch, settings, write_csv(tmp_path, lines), table,
                         options=importer.Options(ts_unit=unit))
    assert stored_times(ch, table) == ["2024-01-01 00:00:00", "2024-01-01 01:00:00",
                                       "2024-01-01 02:00:00"]


def test_dates_before_1970_are_stored_as_given(ch: ClickHouse, settings: Settings, table: str,
                                               tmp_path: Path) -> None:
    lines = ["SPX,1960-01-04,1,2,1,1,1\n", "SPX,-315273600,1,2,1,1,1\n",
             "SPX,1960-01-06T00:00:00Z,1,2,1,1,1\n"]
    importer.import_file(ch, settings, write_csv(tmp_path, lines), table)
    assert stored_times(ch, table) == ["1960-01-04 00:00:00", "1960-01-05 00:00:00",
                                       "1960-01-06 00:00:00"]
    assert {s for (s,) in ch.rows(f"SELECT bar_seconds FROM {table}")} == {86_400}


def test_a_daily_bar_keeps_its_local_date_and_intraday_bars_go_to_utc(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    tokyo = [f"N225,2024-01-{d:02d}T00:00:00+09:00,1,2,1,1,1\n" for d in (4, 5, 9, 10)]
    hourly = [f"7203,2024-01-05T{h:02d}:00:00+09:00,1,2,1,1,1\n" for h in (9, 10, 11)]
    importer.import_file(ch, settings, write_csv(tmp_path, tokyo + hourly), table)
    got = ch.rows(f"SELECT symbol, {TEXT}, bar_seconds FROM {table} ORDER BY symbol, ts")
    assert got == [
        ("7203", "2024-01-05 00:00:00", 3600), ("7203", "2024-01-05 01:00:00", 3600),
        ("7203", "2024-01-05 02:00:00", 3600),
        ("N225", "2024-01-04 00:00:00", 86400), ("N225", "2024-01-05 00:00:00", 86400),
        ("N225", "2024-01-09 00:00:00", 86400), ("N225", "2024-01-10 00:00:00", 86400)]


def test_daily_closes_stamped_in_local_time_are_stored_on_their_date(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    days = trading_days(dt.date(2018, 10, 29), dt.date(2018, 11, 9))  # across the DST change
    offset = {True: "-04:00", False: "-05:00"}
    lines = daily_lines("AAPL", days, ts=lambda d: f"{d}T16:00:00{offset[d < dt.date(2018, 11, 5)]}")
    importer.import_file(ch, settings, write_csv(tmp_path, lines), table)
    assert sizes(ch, table) == {str(d): 86_400 for d in days}
    assert all(t.endswith("00:00:00") for t in stored_times(ch, table))


# --- issue 10: the bars table reaches before 1970; old tables are migrated ----------------

def test_an_old_datetime_table_is_migrated_once_with_its_rows(ch: ClickHouse, settings: Settings,
                                                             table: str, tmp_path: Path) -> None:
    ch.command(f"CREATE TABLE {table} (symbol LowCardinality(String), ts DateTime('UTC'),"
               " bar_seconds UInt32, open Float64, high Float64, low Float64, close Float64,"
               " volume Float64) ENGINE = MergeTree ORDER BY (symbol, ts)")
    ch.command(f"INSERT INTO {table} VALUES ('AAPL', 1704067200, 86400, 1, 2, 1, 1.5, 10)")
    assert market.migrate(ch, table) is True
    assert market.migrate(ch, table) is False
    kind = ch.scalar("SELECT type FROM system.columns WHERE database = currentDatabase()"
                     " AND table = {t:String} AND name = 'ts'", {"t": table})
    assert kind == "DateTime64(3, 'UTC')"
    assert ch.rows(f"SELECT symbol, {TEXT}, bar_seconds, close FROM {table}") == [
        ("AAPL", "2024-01-01 00:00:00", 86400, 1.5)]
    importer.import_file(ch, settings, write_csv(tmp_path, ["AAPL,1960-01-04,1,2,1,1,1\n"]),
                         table)
    assert stored_times(ch, table)[0] == "1960-01-04 00:00:00"
    assert not ch.scalar(f"EXISTS TABLE {table}_migrating")


def test_the_writer_migrates_an_old_table_when_it_opens_it(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path, redis_url: str) -> None:
    from argus.writer.run import refresh

    ch.command(f"CREATE TABLE {table} (symbol LowCardinality(String), ts DateTime('UTC'),"
               " bar_seconds UInt32, open Float64, high Float64, low Float64, close Float64,"
               " volume Float64) ENGINE = MergeTree ORDER BY (symbol, ts)")
    ch.command(f"INSERT INTO {table} VALUES ('AAPL', 1704067200, 86400, 1, 2, 1, 1.5, 10)")
    client = redis.Redis.from_url(redis_url)
    refresh(Settings.from_env({}, data_dir=settings.data_dir), client, table=table)
    client.close()
    assert ch.scalar("SELECT type FROM system.columns WHERE database = currentDatabase()"
                     " AND table = {t:String} AND name = 'ts'", {"t": table}).startswith(
                         "DateTime64")


# --- issue 10: a warning for a likely unadjusted split ------------------------------------

def split_lines(volume_after: float, spike: float = 1.0) -> list[str]:
    days = trading_days(dt.date(2018, 5, 1), dt.date(2018, 7, 31))
    out, price = [], 100.0
    for i, day in enumerate(days):
        if i == 40:
            price /= 2  # 2:1, unadjusted
        price *= 1.002 if i % 2 else 0.999
        volume = (1000 if i < 40 else volume_after) * (spike if i == 40 else 1.0)
        out.append(f"AAPL,{day},{price},{price * 1.01},{price * 0.99},{price},{volume}\n")
    return out


def test_an_unadjusted_split_is_warned_about_with_symbol_and_date(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    notes: list[str] = []
    importer.import_file(ch, settings, write_csv(tmp_path, split_lines(2000)), table,
                         warn=notes.append)
    assert len(notes) == 1
    assert notes[0].startswith("AAPL 2018-06-27: close ") and "(×0.499)" in notes[0]
    assert "likely an unadjusted split" in notes[0]
    assert count(ch, table) == len(split_lines(2000))  # a warning, not a refusal


def test_a_crash_on_heavy_volume_is_not_called_a_split(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    notes: list[str] = []
    importer.import_file(ch, settings, write_csv(tmp_path, split_lines(1000, spike=8)), table,
                         warn=notes.append)
    assert notes == []


@pytest.mark.usefixtures("cli_bars")
def test_the_split_warning_is_printed_by_the_cli(data_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.writer.test_cli_writer import app

    result = CliRunner().invoke(app, ["data", "import", str(write_csv(tmp_path, split_lines(2000)))],
                                env={"ARGUS_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    assert "warning: AAPL 2018-06-27: close" in result.output


def test_sizes_stored_wrong_by_an_earlier_import_are_corrected_by_the_next(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    days = trading_days(dt.date(2018, 10, 1), dt.date(2018, 10, 16))
    lines = daily_lines("AAPL", days)
    importer.import_file(ch, settings, write_csv(tmp_path, lines[:-1]), table)
    # What the old importer stored for a file ending on Monday 15 October: a 3-day bar.
    ch.command(f"ALTER TABLE {table} UPDATE bar_seconds = 259200 WHERE toDate(ts) = "
               "'2018-10-15' SETTINGS mutations_sync = 1")
    importer.import_file(ch, settings, write_csv(tmp_path, lines[-1:]), table)
    assert set(sizes(ch, table).values()) == {86_400}


@pytest.mark.usefixtures("cli_bars")
def test_the_import_flags_are_checked_by_the_cli(data_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.writer.test_cli_writer import app

    env = {"ARGUS_DATA_DIR": str(data_dir)}
    path = str(write_csv(tmp_path, ["ETH,1704067200000,1,2,1,1,1\n",
                                    "ETH,1704070800000,1,2,1,1,1\n"]))
    for flags, message in ((["--bar-size", "daily"], "bad --bar-size 'daily'"),
                           (["--ts-unit", "days"], "--ts-unit must be one of s, ms, us, ns"),
                           (["--asset-class", "bond"], "--asset-class must be one of"),
                           ([], "looks like milliseconds")):
        result = CliRunner().invoke(app, ["data", "import", *flags, path], env=env)
        assert result.exit_code == 1 and message in result.output, result.output
    result = CliRunner().invoke(app, ["data", "import", "--ts-unit", "ms", "--bar-size", "1h",
                                      path], env=env)
    assert result.exit_code == 0, result.output
    assert "imported 2 bars" in result.output


def test_a_split_appended_a_day_at_a_time_is_warned_about_once(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    days = trading_days(dt.date(2018, 5, 1), dt.date(2018, 7, 31))
    lines, price = [], 100.0
    for i, day in enumerate(days):
        price = 100.0 * (1.001 if i % 2 else 0.999) / (10 if i >= 40 else 1)  # 1:10, raw
        volume = 1000 if i < 40 else 10_000  # the split day trades the new share count
        lines.append(f"AAPL,{day},{price},{price * 1.01},{price * 0.99},{price},{volume}\n")
    importer.import_file(ch, settings, write_csv(tmp_path, lines[:40]), table)
    notes: list[str] = []
    for line in lines[40:46]:
        importer.import_file(ch, settings, write_csv(tmp_path, [line]), table, warn=notes.append)
    assert len(notes) == 1 and notes[0].startswith(f"AAPL {days[40]}: close 9.99 after 100.1")
