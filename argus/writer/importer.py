"""``argus data import``: the user's own bars from CSV or Parquet, all or nothing.

Columns ``symbol, ts, open, high, low, close, volume`` (any order, extra columns ignored);
``ts`` is ISO-8601 (a naive time is UTC) or Unix seconds; any bar size. Every row is
checked before anything is written, and the first bad one is reported with its line number
(CSV: the file's line, the header being line 1; Parquet: the row number, from 1). Symbols
are normalized on the way in.

A valid file is staged in its own table, then moved into ``bars`` with one
``INSERT … SELECT``; rows already stored for the same (symbol, ts) are replaced, so
importing a file twice does not double it.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from argus.errors import DataSourceError, InvalidSymbol
from argus.settings import Settings
from argus.symbols import Normalizer
from argus.writer.clickhouse import ClickHouse, map_clickhouse_errors
from argus.writer.market import TABLE, create_table

COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume")
_PRICES = ("open", "high", "low", "close")


class MalformedInput(DataSourceError):
    """A file that cannot be imported; the message names the file and the line."""


def read_table(path: Path) -> tuple[pa.Table, int]:
    """The file as an all-string Arrow table, and the line number of its first data row."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise MalformedInput(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(path), 1
        if path.stat().st_size == 0:
            raise MalformedInput(f"{path}: the file is empty")
        with path.open("rb") as handle:
            header = handle.readline().decode("utf-8", "replace").strip()
        names = [name.strip() for name in header.split(",")]
        broken: list[Any] = []

        def on_invalid(row: Any) -> str:
            broken.append(row)
            return "skip"

        table = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False))
        if broken:
            row = broken[0]
            line = f"line {row.number}" if row.number is not None else "a row"
            raise MalformedInput(f"{path}: {line}: expected {row.expected_columns} fields, "
                                 f"got {row.actual_columns}")
        return table, 2
    except MalformedInput:
        raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise MalformedInput(f"{path}: not a readable CSV/Parquet file: {exc}") from exc


def parse_ts(text: str) -> int:
    """Unix seconds from ``text``: a number of seconds or an ISO-8601 time (naive = UTC)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"bad timestamp {text!r}")
        return int(seconds)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"bad timestamp {text!r} (ISO-8601 or Unix seconds)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


def validate(table: pa.Table, first_line: int, normalizer: Normalizer, where: str) -> pa.Table:
    """The rows as a typed Arrow table ready for ``bars``, or ``MalformedInput`` at the first bad row."""
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise MalformedInput(f"{where}: missing column(s) {', '.join(missing)}")
    if table.num_rows == 0:
        raise MalformedInput(f"{where}: no bars in the file")
    cols = {c: table.column(c).to_pylist() for c in COLUMNS}
    n = table.num_rows

    def fail(row: int, reason: str) -> MalformedInput:
        return MalformedInput(f"{where}: line {row + first_line}: {reason}")

    canonical: dict[str, str] = {}
    symbols: list[str] = []
    ts = np.empty(n, dtype=np.int64)
    values = {c: np.empty(n, dtype=np.float64) for c in (*_PRICES, "volume")}
    for i in range(n):
        raw = cols["symbol"][i]
        if raw is None:
            raise fail(i, "missing symbol")
        raw = str(raw)
        sym = canonical.get(raw)
        if sym is None:
            try:
                sym = canonical[raw] = normalizer.normalize(raw)
            except InvalidSymbol as exc:
                raise fail(i, exc.message) from exc
        symbols.append(sym)
        try:
            ts[i] = parse_ts(str(cols["ts"][i]) if cols["ts"][i] is not None else "")
        except ValueError as exc:
            raise fail(i, str(exc)) from exc
        for c, out in values.items():
            cell = cols[c][i]
            try:
                number = float(cell) if cell is not None and str(cell).strip() else math.nan
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or number < 0 or (c != "volume" and number == 0):
                raise fail(i, f"{c} must be a positive number, got {cell!r}")
            out[i] = number
        o, h, lo, c_ = (values[p][i] for p in _PRICES)
        if h < max(o, c_, lo) or lo > min(o, c_):
            raise fail(i, "high/low do not bracket open and close")
    sym_arr = np.array(symbols, dtype=object)
    order = np.lexsort((ts, sym_arr))
    s_sorted, t_sorted = sym_arr[order], ts[order]
    same = (s_sorted[1:] == s_sorted[:-1])
    dup = same & (t_sorted[1:] == t_sorted[:-1])
    if dup.any():
        row = int(max(order[1:][dup][0], order[:-1][dup][0]))
        raise fail(row, f"duplicate bar for {symbols[row]} at {cols['ts'][row]}")
    bar_seconds = _bar_seconds(t_sorted, same)
    return pa.table({
        "symbol": pa.array(s_sorted.tolist(), pa.string()),
        "ts": pa.array(t_sorted.astype(np.uint32), pa.uint32()),
        "bar_seconds": pa.array(bar_seconds.astype(np.uint32), pa.uint32()),
        **{c: pa.array(values[c][order], pa.float64()) for c in (*_PRICES, "volume")},
    })


def _bar_seconds(ts: Any, same: Any) -> Any:
    """Each bar's size: the smaller gap to its neighbours of the same symbol.

    The smaller gap makes a Friday daily bar 1 day, not the 3 to Monday, and puts a bar at
    a boundary between sizes into the finer one's neighbour's size.
    """
    gaps = np.diff(ts).astype(np.float64)
    gaps[~same] = np.inf
    prev = np.concatenate(([np.inf], gaps))
    nxt = np.concatenate((gaps, [np.inf]))
    size = np.minimum(prev, nxt)
    size[~np.isfinite(size)] = 0  # a symbol's only bar: size unknown
    return size


def import_file(ch: ClickHouse, settings: Settings, path: Path, table: str = TABLE) -> int:
    """Load ``path`` into ``table`` all at once; return the number of bars."""
    raw, first_line = read_table(path)
    rows = validate(raw, first_line, Normalizer.from_settings(settings), str(path))
    create_table(ch, table)
    stage = f"{table}_stage_{uuid.uuid4().hex[:12]}"
    ch.command(f"CREATE TABLE {stage} AS {table} ENGINE = Memory")
    try:
        with map_clickhouse_errors("staging the import"):
            # One Arrow stream (a single record batch): chDB can crash on concatenated ones.
            ch.client.insert_arrow(stage, rows.combine_chunks())
        ch.command(f"DELETE FROM {table} WHERE (symbol, ts) IN (SELECT symbol, ts FROM {stage})"
                   ) if ch.scalar(f"SELECT count() > 0 FROM {table}") else None
        ch.command(f"INSERT INTO {table} SELECT * FROM {stage}")
    finally:
        ch.command(f"DROP TABLE IF EXISTS {stage}")
    return int(rows.num_rows)
