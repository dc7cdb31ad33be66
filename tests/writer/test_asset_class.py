"""Issue 10: the asset class of imported symbols, from the file to the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from argus import keys
from argus.errors import DataSourceError
from argus.http.app import create_app
from argus.settings import Settings
from argus.writer import importer
from argus.writer.clickhouse import ClickHouse
from tests.conftest import gql
from tests.writer.test_cli_writer import app, runner
from tests.writer.test_import import daily_lines, trading_days, write_csv

OPTIONS = importer.Options


def stored_symbols(ch: ClickHouse, table: str) -> list[str]:
    return [str(s) for (s,) in ch.rows(f"SELECT DISTINCT symbol FROM {table} ORDER BY symbol")]


@pytest.fixture(autouse=True)
def _drop_assets(ch: ClickHouse, table: str) -> Iterator[None]:
    """The table remembering this test's asset classes goes with its bars table."""
    yield
    ch.command(f"DROP TABLE IF EXISTS {importer.assets_table(table)}")


TICKERS = ["STX", "SOL", "BCH", "LINK"]


def one_bar_each(symbols: list[str], cls: str | None = None) -> list[str]:
    cell = f",{cls}" if cls is not None else ""
    return [f"{s},2024-01-0{d},1,2,1,1,1{cell}\n" for s in symbols for d in (2, 3)]


def test_equity_tickers_that_are_crypto_bases_stay_equities_with_the_flag(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    importer.import_file(ch, settings, write_csv(tmp_path, one_bar_each(TICKERS)), table,
                         options=OPTIONS(asset_class="equity"))
    assert stored_symbols(ch, table) == sorted(TICKERS)


def test_an_asset_class_column_decides_per_row_and_the_flag_fills_empty_cells(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    header = "symbol,ts,open,high,low,close,volume,asset_class\n"
    lines = (one_bar_each(["STX", "link"], "equity") + one_bar_each(["SOL"], "crypto")
             + one_bar_each(["BCH"], ""))
    importer.import_file(ch, settings, write_csv(tmp_path, lines, header), table)
    # Without a flag an empty cell leaves the crypto asset list to decide.
    assert stored_symbols(ch, table) == ["BINANCE:BCH-USDT", "BINANCE:SOL-USDT", "LINK", "STX"]
    importer.import_file(ch, settings, write_csv(tmp_path, lines, header), table,
                         options=OPTIONS(asset_class="equity"))
    assert "BCH" in stored_symbols(ch, table)


def test_a_class_once_given_is_remembered_by_later_files(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    importer.import_file(ch, settings, write_csv(tmp_path, one_bar_each(["STX"])), table,
                         options=OPTIONS(asset_class="equity"))
    importer.import_file(ch, settings, write_csv(tmp_path, ["stx,2024-01-04,1,2,1,1,1\n"]),
                         table)
    assert stored_symbols(ch, table) == ["STX"]
    assert importer.asset_classes(ch, table) == {"STX": "equity"}


def test_a_pair_of_a_remembered_equity_is_read_as_the_api_reads_it_with_a_warning(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    importer.import_file(ch, settings, write_csv(tmp_path, one_bar_each(["STX"])), table,
                         options=OPTIONS(asset_class="equity"))
    notes: list[str] = []
    importer.import_file(ch, settings, write_csv(tmp_path, one_bar_each(["STX-USDT"])), table,
                         warn=notes.append)
    # argus:symbols will say STX is an equity, and then the API reads STX-USDT so too (§14).
    assert stored_symbols(ch, table) == ["STX", "STX-USDT"]
    assert notes == ["STX-USDT: read as the equity STX-USDT, a class remembered from an "
                     "earlier import; --asset-class crypto for BINANCE:STX-USDT"]


def test_crypto_rows_become_pairs_even_for_unlisted_bases(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path) -> None:
    lines = [*one_bar_each(["NEWCOIN"]), "NEWCOINUSDT,2024-01-04,1,2,1,1,1\n",
             *one_bar_each(["kraken:newcoin-eur"])]
    importer.import_file(ch, settings, write_csv(tmp_path, lines), table,
                         options=OPTIONS(asset_class="crypto"))
    assert stored_symbols(ch, table) == ["BINANCE:NEWCOIN-USDT", "KRAKEN:NEWCOIN-EUR"]
    assert importer.asset_classes(ch, table)["BINANCE:NEWCOIN-USDT"] == "crypto"


@pytest.mark.parametrize(("header", "line", "options", "message"), [
    ("symbol,ts,open,high,low,close,volume,asset_class\n", "AAPL,2024-01-02,1,2,1,1,1,bond\n",
     None, "line 2: asset_class must be equity or crypto, got 'bond'"),
    ("symbol,ts,open,high,low,close,volume\n", "NOT.A.PAIR,2024-01-02,1,2,1,1,1\n",
     OPTIONS(asset_class="crypto"), r"line 2: Invalid symbol 'NOT.A.PAIR': not a crypto pair"),
])
def test_a_bad_asset_class_or_crypto_symbol_is_refused_by_line(
        ch: ClickHouse, settings: Settings, table: str, tmp_path: Path, header: str, line: str,
        options: importer.Options | None, message: str) -> None:
    with pytest.raises(DataSourceError, match=message):
        importer.import_file(ch, settings, write_csv(tmp_path, [line], header), table,
                             options=options)


def test_bad_flags_are_refused() -> None:
    with pytest.raises(ValueError, match="--asset-class must be one of equity, crypto"):
        OPTIONS(asset_class="stock")
    with pytest.raises(ValueError, match="--ts-unit must be one of s, ms, us, ns"):
        OPTIONS(ts_unit="days")


@pytest.mark.usefixtures("cli_bars")
def test_an_equity_import_is_served_as_the_equity_through_graphql(
        data_dir: Path, ch: ClickHouse, redis_url: str, tmp_path: Path,
        sync_redis: redis.Redis) -> None:
    ch.command("DROP TABLE IF EXISTS bars")
    ch.command(f"DROP TABLE IF EXISTS {importer.assets_table('bars')}")
    env = {"ARGUS_DATA_DIR": str(data_dir), "ARGUS_REDIS_URL": redis_url, "ARGUS_TTL": "3600"}
    days = trading_days(dt.date(2018, 1, 2), dt.date(2019, 7, 31))
    equity = write_csv(tmp_path, daily_lines("STX", days, seed=3))
    result = runner.invoke(app, ["data", "import", "--asset-class", "equity", str(equity)],
                           env=env)
    assert result.exit_code == 0, result.output
    every_day = [days[0] + dt.timedelta(d) for d in range((days[-1] - days[0]).days + 1)]
    crypto = tmp_path / "crypto.csv"
    crypto.write_text("symbol,ts,open,high,low,close,volume\n"
                      + "".join(daily_lines("STX-USDT", every_day, seed=4)))
    result = runner.invoke(app, ["data", "import", "--asset-class", "crypto", str(crypto)],
                           env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["write", "--symbols", "stx"], env=env)
    assert result.exit_code == 0, result.output
    assert sync_redis.hgetall(keys.UNIVERSE) == {"STX": "equity"}
    result = runner.invoke(app, ["write", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert sync_redis.hgetall(keys.UNIVERSE) == {"STX": "equity", "BINANCE:STX-USDT": "crypto"}
    stored = sync_redis.hgetall(keys.regime("STX", "1d"))
    settings = Settings.from_env({}, redis_url=redis_url, anonymous_tier="internal",
                                 universe_refresh=3_600.0)
    query = '{ symbol(symbol: "%s") { symbol regime(timeframes: [D1]) { volatility } } }'
    with TestClient(create_app(settings)) as client:
        body = gql(client, query % "STX")
        pair = gql(client, query % "BINANCE:STX-USDT")
    assert "errors" not in body, body
    assert body["data"]["symbol"]["symbol"] == "STX"
    assert body["data"]["symbol"]["regime"] == [{"volatility": float(stored["volatility"])}]
    assert pair["data"]["symbol"]["symbol"] == "BINANCE:STX-USDT"
    assert pair["data"]["symbol"]["regime"] != body["data"]["symbol"]["regime"]
