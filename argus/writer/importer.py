"""``argus data import``: the user's own bars from CSV or Parquet, all or nothing.

Columns ``symbol, ts, open, high, low, close, volume`` (any order, extra columns ignored),
optionally ``asset_class``. Every row is checked before anything is written, and the first
bad one is reported with its line number (CSV: the file's line, the header being line 1;
Parquet: the row number, from 1). ``docs/market-data.md`` has the rules; in short:

* ``ts``: an ISO-8601 date or datetime (naive = UTC) or Unix seconds (negative before 1970;
  ``--ts-unit`` for ms/us/ns; ``argus.writer.timestamps``). What could be another unit or a
  ``YYYYMMDD`` integer is refused, never guessed. A daily or coarser bar is stored at 00:00
  UTC of its local date.
* symbols are normalized on the way in, as equities or crypto pairs by ``--asset-class`` or
  the ``asset_class`` column; a class given once is remembered (table ``<bars>_assets``) so
  later files without it keep ``STX`` the equity.
* bar sizes: ``--bar-size``, or the dominant spacing of the symbol's whole series, the
  stored bars included (``argus.writer.spacing``); stored bars whose size that changes
  are rewritten, so the result is the same however the history arrived.
* a likely unadjusted split is reported as a warning (``argus.writer.splits``).

A valid file is staged in its own table, then moved into ``bars`` with one
``INSERT … SELECT``; rows already stored for the same (symbol, ts) are replaced, so
importing a file twice does not double it.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from argus import keys
from argus.errors import InvalidSymbol, MalformedInput
from argus.settings import Settings
from argus.symbols import Normalizer, Universe
from argus.writer import spacing, splits
from argus.writer.clickhouse import ClickHouse, map_clickhouse_errors
from argus.writer.market import TABLE, TS_TYPE, UNKNOWN_SIZE, create_table
from argus.writer.timestamps import TS_UNITS, parse_ts

COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume")
ASSET_CLASS = "asset_class"
ASSET_CLASSES = ("equity", "crypto")
_PRICES = ("open", "high", "low", "close")

_DAY = keys.TIMEFRAME_SECONDS["1d"]
_SIZE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|M)\s*$")
_SIZE_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": _DAY, "w": 7 * _DAY,
               "M": keys.TIMEFRAME_SECONDS["1M"]}


@dataclass(frozen=True, slots=True)
class Options:
    """``argus data import`` flags: every one optional."""

    bar_size: int | None = None      # seconds; None: the series' dominant spacing
    ts_unit: str = "s"
    asset_class: str | None = None   # for rows without an ``asset_class`` cell

    def __post_init__(self) -> None:
        if self.ts_unit not in TS_UNITS:
            raise ValueError(f"--ts-unit must be one of {', '.join(TS_UNITS)}")
        if self.asset_class is not None and self.asset_class not in ASSET_CLASSES:
            raise ValueError(f"--asset-class must be one of {', '.join(ASSET_CLASSES)}")
        if self.bar_size is not None and self.bar_size <= 0:
            raise ValueError("--bar-size must be positive")


def parse_bar_size(text: str) -> int:
    """``1d``, ``1h``, ``60s``, ``5m``, ``1w``, ``1M`` (a month: 30 days) → seconds."""
    match = _SIZE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"bad --bar-size {text!r} (e.g. 1d, 1h, 60s, 1w, 1M)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


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



@dataclass(slots=True)
class Rows:
    """The file's bars, typed, in file order."""

    symbols: np.ndarray[Any, np.dtype[Any]]
    instant: np.ndarray[Any, np.dtype[np.int64]]
    local: np.ndarray[Any, np.dtype[np.int64]]
    values: dict[str, np.ndarray[Any, np.dtype[np.float64]]]
    classes: dict[str, str]   # canonical symbol → asset class given for it
    ts_text: list[Any]


class SymbolReader:
    """Normalizes a file's symbols by asset class, remembering what it has seen."""

    def __init__(self, normalizer: Normalizer) -> None:
        self.normalizer = normalizer
        self.plain = normalizer.with_universe(Universe())
        self.memo: dict[tuple[str, str | None], str] = {}
        self.notes: list[str] = []

    def __call__(self, raw: str, asset_class: str | None) -> str:
        key = (raw, asset_class)
        sym = self.memo.get(key)
        if sym is None:
            sym = self.memo[key] = self._read(raw, asset_class)
        return sym

    def _read(self, raw: str, asset_class: str | None) -> str:
        n = self.normalizer
        if asset_class == "equity":
            return n.validate(raw)
        canonical = n.normalize(raw)
        if asset_class is None:
            if _is_pair(plain := self.plain.normalize(raw)) and not _is_pair(canonical):
                self.notes.append(f"{raw}: read as the equity {canonical}, a class remembered "
                                  f"from an earlier import; --asset-class crypto for {plain}")
            return canonical
        if _is_pair(canonical):
            return canonical
        # A crypto row whose base is not in the asset list (or is remembered as an equity):
        # make its base a crypto base for this one symbol.
        text = n.validate(raw)
        rest = text.partition(":")[2] or text
        parts = re.split(r"[-/_]", rest)
        base = parts[0]
        if len(parts) == 1:
            base = next((rest[: -len(q)] for q in n.quotes if rest.endswith(q) and rest != q),
                        rest)
        if not base.isalnum():
            raise InvalidSymbol(raw, "not a crypto pair (EXCHANGE:BASE-QUOTE)")
        u = n.universe
        forced = n.with_universe(Universe(u.crypto_bases | {base}, u.equities - {base}))
        canonical = forced.normalize(raw)
        if not _is_pair(canonical):
            raise InvalidSymbol(raw, "not a crypto pair (EXCHANGE:BASE-QUOTE)")
        return canonical


def _is_pair(symbol: str) -> bool:
    return ":" in symbol and "-" in symbol.partition(":")[2]


def parse_rows(table: pa.Table, first_line: int, read_symbol: SymbolReader, where: str,
               options: Options) -> Rows:
    """The rows typed and checked, or ``MalformedInput`` at the first bad one."""
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise MalformedInput(f"{where}: missing column(s) {', '.join(missing)}")
    if table.num_rows == 0:
        raise MalformedInput(f"{where}: no bars in the file")
    names = [*COLUMNS, *([ASSET_CLASS] if ASSET_CLASS in table.column_names else [])]
    cols = {c: table.column(c).to_pylist() for c in names}
    n = table.num_rows

    def fail(row: int, reason: str) -> MalformedInput:
        return MalformedInput(f"{where}: line {row + first_line}: {reason}")

    symbols: list[str] = []
    classes: dict[str, str] = {}
    instant = np.empty(n, dtype=np.int64)
    local = np.empty(n, dtype=np.int64)
    values = {c: np.empty(n, dtype=np.float64) for c in (*_PRICES, "volume")}
    for i in range(n):
        raw = cols["symbol"][i]
        if raw is None:
            raise fail(i, "missing symbol")
        cls = options.asset_class
        if ASSET_CLASS in cols and (cell := str(cols[ASSET_CLASS][i] or "").strip()):
            cls = cell.lower()
            if cls not in ASSET_CLASSES:
                raise fail(i, f"asset_class must be equity or crypto, got {cell!r}")
        try:
            sym = read_symbol(str(raw), cls)
        except InvalidSymbol as exc:
            raise fail(i, exc.message) from exc
        if cls is not None and classes.setdefault(sym, cls) != cls:
            raise fail(i, f"{sym} is both {classes[sym]} and {cls} in this file")
        symbols.append(sym)
        try:
            cell_ts = cols["ts"][i]
            instant[i], local[i] = parse_ts(str(cell_ts) if cell_ts is not None else "",
                                            options.ts_unit)
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
    return Rows(np.array(symbols, dtype=object), instant, local, values, classes, cols["ts"])


def assets_table(table: str) -> str:
    """The table remembering each symbol's asset class, next to ``table``."""
    return f"{table}_assets"


def asset_classes(ch: ClickHouse, table: str = TABLE) -> dict[str, str]:
    """Canonical symbol → ``equity``/``crypto``, as last given to ``argus data import``."""
    name = assets_table(table)
    if not ch.scalar(f"EXISTS TABLE {name}"):
        return {}
    return {str(s): str(c) for s, c in ch.rows(f"SELECT symbol, asset_class FROM {name} FINAL")}


@dataclass(slots=True)
class Plan:
    bars: pa.Table                 # to insert: the file's bars and stored bars resized
    gone: pa.Table                 # stored (symbol, ts) to delete besides those replaced
    warnings: list[str]


_STORED = ("SELECT symbol, toInt64(ts) AS ts, bar_seconds, open, high, low, close, volume"
           " FROM {table} WHERE symbol IN {{symbols:Array(String)}} ORDER BY symbol, ts")
_FIELDS = (*_PRICES, "volume")


@dataclass(slots=True)
class _Series:
    """One symbol's file bars against its stored ones, between the two passes of ``plan``."""

    sym: str
    idx: Any                       # the file's rows of this symbol
    key: Any                       # their times for lining up with the stored bars
    days: Any                      # 00:00 UTC of their local dates
    lo: int                        # its stored rows: [lo, hi) of the stored columns
    hi: int
    keep: Any                      # stored rows that stay (not replaced)
    series: Any                    # stored kept times then the file's keys, unsorted
    sizes: Any = None              # the same order: sizes of kept stored, then file bars


def plan(ch: ClickHouse, table: str, rows: Rows, first_line: int, where: str,
         options: Options) -> Plan:
    """Sizes, final times, resized stored bars and warnings for every symbol of ``rows``."""
    names = sorted(set(rows.symbols.tolist()))
    stored = ch.arrow(_STORED.format(table=table), {"symbols": names}).combine_chunks()
    st = {c: stored.column(c).to_numpy() for c in ("ts", "bar_seconds", *_FIELDS)}
    st_ts, st_size = st["ts"].astype(np.int64), st["bar_seconds"].astype(np.int64)
    # Runs of the sorted symbol column, without a Python string per stored row.
    st_bounds: dict[str, tuple[int, int]] = {}
    if len(stored):
        runs = pc.run_end_encode(stored.column("symbol").cast(pa.string()).combine_chunks())
        ends = runs.run_ends.to_numpy().astype(np.int64)
        starts = np.concatenate(([0], ends[:-1]))
        st_bounds = {str(sym): (int(a), int(b)) for sym, a, b in zip(
            runs.values.to_pylist(), starts, ends, strict=True)}

    def fail(row: int, reason: str) -> MalformedInput:
        return MalformedInput(f"{where}: line {row + first_line}: {reason}")

    def check_unique(sym: str, times: Any, idx: Any) -> None:
        o = np.argsort(times, kind="stable")
        dup = np.flatnonzero(times[o][1:] == times[o][:-1])
        if len(dup):
            row = int(max(idx[o][dup[0]], idx[o][dup[0] + 1]))
            raise fail(row, f"duplicate bar for {sym} at {rows.ts_text[row]}")

    # Pass 1: line each symbol's file bars up with its stored ones.
    by_symbol = np.argsort(rows.symbols, kind="stable")
    todo: list[_Series] = []
    notes: list[str] = []
    for sym, a, b in _groups(rows.symbols[by_symbol]):
        idx = by_symbol[a:b]
        inst, loc = rows.instant[idx], rows.local[idx]
        # A file of local midnights (dates, or ``T00:00+09:00``) is daily: line it up by
        # local date, like the stored daily bars; otherwise by instant.
        key = loc if bool(np.all(loc % _DAY == 0)) else inst
        check_unique(sym, key, idx)
        lo, hi = st_bounds.get(sym, (0, 0))
        days = np.floor_divide(loc, _DAY) * _DAY
        drop = np.isin(st_ts[lo:hi], key) | (np.isin(st_ts[lo:hi], days)
                                             & (st_size[lo:hi] >= _DAY))
        keep = ~drop
        item = _Series(sym, idx, key, days, lo, hi, keep,
                       np.concatenate((st_ts[lo:hi][keep], key)))
        if options.bar_size is not None:
            # Stored bars keep their sizes, but a lone bar waiting for one gets this one.
            kept = st_size[lo:hi][keep]
            item.sizes = np.concatenate((np.where(kept == UNKNOWN_SIZE, options.bar_size, kept),
                                         np.full(len(idx), options.bar_size, dtype=np.int64)))
        elif len(item.series) < 2:
            item.sizes = np.full(1, UNKNOWN_SIZE, dtype=np.int64)
            notes.append(f"{sym}: one bar and none stored, so its size is unknown: it is left "
                         "out of every timeframe until more bars arrive (or pass --bar-size)")
        todo.append(item)
    # All the series' sizes in one pass (a daily append touches every symbol).
    infer = [t for t in todo if t.sizes is None]
    if infer:
        orders = [np.argsort(t.series, kind="stable") for t in infer]
        lengths = np.array([len(t.series) for t in infer], dtype=np.int64)
        found = spacing.sizes_many(
            np.concatenate([t.series[o] for t, o in zip(infer, orders, strict=True)]),
            np.concatenate(([0], np.cumsum(lengths)[:-1])))
        for t, o, start in zip(infer, orders, np.cumsum(lengths) - lengths, strict=True):
            t.sizes = np.empty(len(o), dtype=np.int64)
            t.sizes[o] = found[start:start + len(o)]

    # Pass 2: final times, stored bars resized, and the series for the split check.
    out: dict[str, list[Any]] = {c: [] for c in ("symbol", "ts", "bar_seconds", *_FIELDS)}
    gone_sym: list[str] = []
    gone_ts: list[Any] = []
    check: dict[str, list[Any]] = {"ts": [], "close": [], "volume": [], "new": [], "start": []}
    offset = 0
    for t in todo:
        lo, hi, keep = t.lo, t.hi, t.keep
        n_keep = int(keep.sum())
        new_size, f_size = t.sizes[:n_keep], t.sizes[n_keep:]
        # A daily or coarser bar sits at 00:00 UTC of its local date; a bar of unknown size
        # stays where it was lined up.
        final = np.where(f_size == UNKNOWN_SIZE, t.key,
                         np.where(f_size >= _DAY, t.days, rows.instant[t.idx]))
        check_unique(t.sym, final, t.idx)
        old_size = st_size[lo:hi][keep]
        resized = np.flatnonzero(keep)[new_size != old_size]
        out["symbol"] += [t.sym] * (len(t.idx) + len(resized))
        out["ts"] += [final, st_ts[lo:hi][resized]]
        out["bar_seconds"] += [f_size, new_size[new_size != old_size]]
        for c in _FIELDS:
            out[c] += [rows.values[c][t.idx], st[c][lo:hi][resized]]
        gone_sym += [t.sym] * (hi - lo - n_keep)
        gone_ts.append(st_ts[lo:hi][~keep])
        times = np.concatenate((st_ts[lo:hi][keep], final))
        o = np.argsort(times, kind="stable")
        check["ts"].append(times[o])
        check["close"].append(np.concatenate((st["close"][lo:hi][keep],
                                              rows.values["close"][t.idx]))[o])
        check["volume"].append(np.concatenate((st["volume"][lo:hi][keep],
                                               rows.values["volume"][t.idx]))[o])
        check["new"].append(np.concatenate((np.zeros(n_keep, bool),
                                            np.ones(len(t.idx), bool)))[o])
        check["start"].append(offset)
        offset += len(times)
    notes += splits.warnings_many([t.sym for t in todo], np.array(check["start"], np.int64),
                                  *(np.concatenate(check[c]) for c in ("ts", "close",
                                                                       "volume", "new")))
    bars = pa.table({
        "symbol": pa.array(out["symbol"], pa.string()),
        "ts": _timestamps(out["ts"]),
        "bar_seconds": pa.array(np.concatenate(out["bar_seconds"]).astype(np.uint32)),
        **{c: pa.array(np.concatenate(out[c]).astype(np.float64)) for c in _FIELDS},
    })
    gone = pa.table({"symbol": pa.array(gone_sym, pa.string()), "ts": _timestamps(gone_ts)})
    return Plan(bars, gone, notes)


def _groups(values: Any) -> list[tuple[str, int, int]]:
    """``(value, start, end)`` of each run of equal values in a sorted array."""
    if len(values) == 0:
        return []
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    ends = np.concatenate((starts[1:], [len(values)]))
    return [(str(values[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def _timestamps(parts: list[Any]) -> pa.Array:
    seconds = np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)
    return pa.array(seconds, pa.int64()).cast(pa.timestamp("s", tz="UTC"))


def import_file(ch: ClickHouse, settings: Settings, path: Path, table: str = TABLE, *,
                options: Options | None = None,
                warn: Callable[[str], None] | None = None) -> int:
    """Load ``path`` into ``table`` all at once; return the number of bars in the file."""
    options = options or Options()
    raw, first_line = read_table(path)
    create_table(ch, table)
    classes = asset_classes(ch, table)
    normalizer = Normalizer.from_settings(settings, Universe.from_mapping(classes))
    reader = SymbolReader(normalizer)
    rows = parse_rows(raw, first_line, reader, str(path), options)
    result = plan(ch, table, rows, first_line, str(path), options)
    for message in reader.notes + result.warnings:
        (warn or (lambda _: None))(message)
    _store(ch, table, result)
    if rows.classes:
        name = assets_table(table)
        ch.command(f"CREATE TABLE IF NOT EXISTS {name} (symbol String, asset_class"
                   " LowCardinality(String)) ENGINE = ReplacingMergeTree ORDER BY symbol")
        ch.command(f"INSERT INTO {name} (symbol, asset_class) SELECT pair.1, pair.2"
                   " FROM (SELECT arrayJoin(arrayZip({s:Array(String)}, {c:Array(String)}))"
                   " AS pair)",
                   {"s": list(rows.classes), "c": list(rows.classes.values())})
    return len(rows.symbols)


def _store(ch: ClickHouse, table: str, result: Plan) -> None:
    stage = f"{table}_stage_{uuid.uuid4().hex[:12]}"
    gone = f"{stage}_gone"
    ch.command(f"CREATE TABLE {stage} AS {table} ENGINE = Memory")
    ch.command(f"CREATE TABLE {gone} (symbol String, ts {TS_TYPE}) ENGINE = Memory")
    try:
        with map_clickhouse_errors("staging the import"):
            # One Arrow stream (a single record batch): chDB can crash on concatenated ones.
            ch.client.insert_arrow(stage, result.bars.combine_chunks())
            if result.gone.num_rows:
                ch.client.insert_arrow(gone, result.gone.combine_chunks())
        ch.command(f"INSERT INTO {gone} SELECT symbol, ts FROM {stage}")
        replaced = f"(symbol, ts) IN (SELECT symbol, ts FROM {gone})"
        # A delete is a mutation, slow even when it matches nothing (a daily append).
        if ch.scalar(f"SELECT count() > 0 FROM {table} WHERE {replaced}"):
            ch.command(f"DELETE FROM {table} WHERE {replaced}")
        ch.command(f"INSERT INTO {table} SELECT * FROM {stage}")
    finally:
        ch.command(f"DROP TABLE IF EXISTS {stage}")
        ch.command(f"DROP TABLE IF EXISTS {gone}")
