"""Bars resampled to a timeframe in ClickHouse, delivered as numpy panels.

A timeframe's buckets are built only from bars no coarser than it (``bar_seconds`` up to
the timeframe's length, with 5 % slack for 31-day months), so a symbol whose data is daily
has no 1-hour buckets at all. Weeks start on Monday and months on the 1st (calendar
buckets), the rest are fixed-length intervals from the Unix epoch.

An *unfinished* bucket is left out: one that ends after both the computation time (``now``)
and the end of its latest bar (``ts + bar_seconds``). So a daily bar completes its day,
but Monday-to-Thursday bars never make a whole week, nor a month's first weeks a month:
the current week or month appears once it is over (issue 10). Bucket times are Unix seconds
(Int64, so dates before 1970 work), computed to suit both ``DateTime`` and ``DateTime64``
``ts`` columns.

A ``Panel`` holds one row per symbol: the closes and volumes of its latest ``window``
buckets (no more columns than the longest row has), NaN where a symbol has fewer.
``aligned=True`` puts every symbol on the same grid of bucket times (the latest ``window``
buckets that any symbol has), which correlations need; otherwise each row is right-aligned
on its own latest bucket.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from argus import keys
from argus.writer.clickhouse import ClickHouse
from argus.writer.market import TABLE

FloatMatrix = np.ndarray[Any, np.dtype[np.float64]]


_EPOCH = "toDateTime64(0, 0, 'UTC')"


def _seconds(expr: str) -> str:
    """Unix seconds of a Date/DateTime/DateTime64 expression, negative before 1970."""
    return f"dateDiff('second', {_EPOCH}, {expr})"


def bucket_sql(timeframe: str) -> str:
    if timeframe == "1w":
        return "toStartOfWeek(ts, 1)"
    if timeframe == "1M":
        return "toStartOfMonth(ts)"
    return f"toStartOfInterval(ts, INTERVAL {keys.TIMEFRAME_SECONDS[timeframe]} SECOND)"


def bucket_end_sql(timeframe: str) -> str:
    """The end (Unix seconds) of the bucket starting at ``bucket``."""
    if timeframe == "1M":
        return _seconds("addMonths(toDateTime64(bucket, 0, 'UTC'), 1)")
    return f"bucket + {keys.TIMEFRAME_SECONDS[timeframe]}"


def query(timeframe: str, table: str = TABLE, symbols: Sequence[str] | None = None,
          now: float | None = None, *, ordered: bool = True) -> str:
    """Finished buckets of ``timeframe`` at ``now`` (default: the current time).

    ``ordered=False`` leaves the rows in ClickHouse's order, for ``build`` (which sorts them
    itself): sorting a full universe's buckets in ClickHouse took about half the resample.
    """
    limit = int(keys.TIMEFRAME_SECONDS[timeframe] * 1.05)
    at = int(time.time() if now is None else now)
    where = f"bar_seconds <= {limit}"
    if symbols is not None:
        where += " AND symbol IN {symbols:Array(String)}"
    return (
        f"SELECT symbol, {_seconds(bucket_sql(timeframe))} AS bucket,"
        " argMax(close, ts) AS close, sum(volume) AS volume"
        f" FROM {table} WHERE {where} GROUP BY symbol, bucket"
        # Finished: the bucket ends by ``now`` or by the end of its latest bar.
        f" HAVING {bucket_end_sql(timeframe)}"
        f" <= greatest(toInt64({at}), {_seconds('max(ts)')} + argMax(bar_seconds, ts))"
        + (" ORDER BY symbol, bucket" if ordered else "") +
        # Date32 / extended DateTime64 results, so buckets before 1970 are not clamped.
        " SETTINGS enable_extended_results_for_datetime_functions = 1"
    )


@dataclass(frozen=True, slots=True)
class Panel:
    timeframe: str
    symbols: list[str]
    close: FloatMatrix   # (symbols, at most window), NaN-padded on the left
    volume: FloatMatrix
    counts: np.ndarray[Any, np.dtype[np.int64]]  # buckets per symbol inside the window

    @property
    def size(self) -> int:
        return int(self.counts.sum())


def load(ch: ClickHouse, timeframe: str, window: int, *, aligned: bool = False,
         table: str = TABLE, symbols: Sequence[str] | None = None,
         now: float | None = None) -> Panel:
    params = {"symbols": list(symbols)} if symbols is not None else None
    return build(ch.arrow(query(timeframe, table, symbols, now), params), timeframe, window,
                 aligned=aligned)


def build(data: pa.Table, timeframe: str, window: int, *, aligned: bool = False) -> Panel:
    """Pivot ``symbol, bucket, close, volume`` rows (in any order) into a panel whose rows
    are the symbols in ClickHouse's order (bytewise, as ``ORDER BY symbol``)."""
    n_rows = data.num_rows
    if n_rows == 0:
        empty = np.empty((0, window))
        return Panel(timeframe, [], empty, empty.copy(), np.empty(0, dtype=np.int64))
    encoded = pc.dictionary_encode(data.column("symbol")).combine_chunks()
    names = [str(n) for n in encoded.dictionary.to_pylist()]
    # A dictionary code's rank among the names: Python orders str by code point, which is
    # UTF-8's byte order, so symbols come out as ClickHouse's ORDER BY symbol puts them.
    rank = np.empty(len(names), dtype=np.int64)
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    raw_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    bucket = data.column("bucket").to_numpy().astype(np.int64)
    order = _order(rank[raw_codes], bucket)
    codes = raw_codes[order]
    bucket = bucket[order]
    starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
    group = np.cumsum(np.concatenate(([False], codes[1:] != codes[:-1])))
    symbols = [names[codes[s]] for s in starts]
    close = data.column("close").to_numpy().astype(np.float64)[order]
    volume = data.column("volume").to_numpy().astype(np.float64)[order]
    n_sym = len(starts)
    if aligned:
        grid = np.unique(bucket)[-window:]
        col = np.searchsorted(grid, bucket)
        keep = (col < len(grid)) & (grid[np.minimum(col, len(grid) - 1)] == bucket)
        width = len(grid)
    else:
        ends = np.concatenate((starts[1:], [n_rows]))
        # No wider than the longest row: the columns before it would be NaN in every row.
        width = min(window, int(np.max(ends - starts)))
        pos_from_end = (ends[group] - 1) - np.arange(n_rows)
        keep = pos_from_end < width
        col = width - 1 - pos_from_end
    out_close = np.full((n_sym, width), np.nan)
    out_volume = np.full((n_sym, width), np.nan)
    out_close[group[keep], col[keep]] = close[keep]
    out_volume[group[keep], col[keep]] = volume[keep]
    counts = np.bincount(group[keep], minlength=n_sym).astype(np.int64)
    return Panel(timeframe, symbols, out_close, out_volume, counts)


def _order(rank: np.ndarray[Any, np.dtype[np.int64]],
           bucket: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, np.dtype[np.intp]]:
    """The row order by symbol rank, then bucket: one argsort of a combined key, which takes
    about half as long as ``np.lexsort`` of the two (a stable lexsort where it could overflow)."""
    low = int(bucket.min())
    span = int(bucket.max()) - low + 1
    if span * (int(rank.max()) + 1) >= 2**62:
        return np.lexsort((bucket, rank))
    return np.argsort(rank * span + (bucket - low), kind="stable")


def log_returns(close: FloatMatrix) -> FloatMatrix:
    """Log returns between consecutive buckets, NaN where either close is missing or ≤ 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.where(close > 0, close, np.nan))
    return np.diff(logs, axis=1)


def trim(panel: FloatMatrix, *others: FloatMatrix, keep: int = 2) -> list[FloatMatrix]:
    """The matrices without the leading columns no row has data in (at least ``keep`` kept):
    a panel of short histories is mostly NaN padding, which costs every vectorized step."""
    filled = ~np.isnan(panel).all(axis=0)
    first = int(np.argmax(filled)) if filled.any() else panel.shape[1]
    first = max(0, min(first, panel.shape[1] - keep))
    return [panel[:, first:], *(m[:, first:] for m in others)]
