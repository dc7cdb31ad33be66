from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from argus import keys
from argus.errors import DataSourceError
from argus.settings import Settings
from argus.writer import importer, market
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
