"""Bar sizes from the dominant spacing of a symbol's series, never from one bar's neighbours.

A bar's size is the regular spacing around it, read from the gaps to the next bar:

* each gap is *classed*: within a day, a week or a month of the nominal length (DST, month
  lengths, a session on the 1st that is a weekend) it counts as that length exactly;
* the *dominant spacing* on each side of a gap is the most frequent class among the
  ``WINDOW + 1`` gaps ending (backward) or starting (forward) there, the smaller on ties;
  a side with fewer gaps (the ends of a series) is not used, and when neither side is
  complete the series' own most frequent class stands in (short series);
* a gap equal to a dominant spacing is a bar of that size; a longer one holds missing bars
  (a weekend, a holiday, a halt) and the bar takes the largest dominant spacing below it;
  a shorter one than both is a finer bar of its own size;
* the last bar, with no gap after it, takes the dominant spacing of the gaps before it.

So a Monday after a weekend, or a lone Friday between Thanksgiving and a weekend, is a 1-day
bar (the trading days around it are 1 day apart), and a series that changes size (the
generator's 30-day → … → 1-minute layout) changes at the boundary, not a window earlier.
The result depends only on the set of timestamps: appending a bar at a time and importing
the history at once give the same sizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from argus import keys

WINDOW = 10

_DAY = keys.TIMEFRAME_SECONDS["1d"]
_WEEK = keys.TIMEFRAME_SECONDS["1w"]
_MONTH = keys.TIMEFRAME_SECONDS["1M"]
#: (low, high, class): gaps in [low, high] count as the nominal length.
_BANDS = ((_DAY - 2 * 3_600, _DAY + 2 * 3_600, _DAY),
          (_WEEK - _DAY, _WEEK + _DAY, _WEEK),
          (27 * _DAY, 35 * _DAY, _MONTH))

IntArray = np.ndarray[Any, np.dtype[np.int64]]


def classify(gaps: IntArray) -> IntArray:
    out = gaps.copy()
    for low, high, nominal in _BANDS:
        out[(gaps >= low) & (gaps <= high)] = nominal
    return out


def _modes(windows: IntArray, chunk: int = 65_536) -> IntArray:
    """The most frequent value of each row, the smallest on ties (rows × width² per chunk)."""
    low, high = windows.min(axis=1), windows.max(axis=1)
    out: IntArray = low.astype(np.int64)  # one value only (most of a regular series): itself
    mixed = np.flatnonzero(low != high)
    for start in range(0, len(mixed), chunk):
        rows = mixed[start:start + chunk]
        w = windows[rows]
        counts = (w[:, :, None] == w[:, None, :]).sum(axis=2)
        best = counts.max(axis=1, keepdims=True)
        out[rows] = np.where(counts == best, w, np.iinfo(np.int64).max).min(axis=1)
    return out


def _group_modes(values: IntArray, group: IntArray, groups: int) -> IntArray:
    """The most frequent value per group (the smallest on ties); -1 for an empty group."""
    out = np.full(groups, -1, dtype=np.int64)
    if len(values) == 0:
        return out
    order = np.lexsort((values, group))
    v, g = values[order], group[order]
    new = np.concatenate(([True], (v[1:] != v[:-1]) | (g[1:] != g[:-1])))
    starts = np.flatnonzero(new)
    counts = np.diff(np.concatenate((starts, [len(v)])))
    uv, ug = v[starts], g[starts]
    # Per group: highest count first, then the smallest value.
    best = np.lexsort((uv, -counts, ug))
    first = np.concatenate(([True], ug[best][1:] != ug[best][:-1]))
    out[ug[best][first]] = uv[best][first]
    return out


def sizes(ts: IntArray) -> IntArray:
    """Each bar's size in seconds for one symbol's strictly increasing start times."""
    if len(ts) < 2:
        raise ValueError("a single bar has no spacing")
    return sizes_many(ts, np.zeros(1, dtype=np.int64))


def sizes_many(ts: IntArray, starts: IntArray) -> IntArray:
    """``sizes`` for many series at once: ``ts`` concatenated, each starting at ``starts``.

    Every series needs at least two bars. One pass over all of them (a daily append touches
    thousands of symbols).
    """
    n = len(ts)
    k = len(starts)
    lengths = np.diff(np.concatenate((starts, [n])))
    if np.any(lengths < 2):
        raise ValueError("a single bar has no spacing")
    bar_group = np.repeat(np.arange(k), lengths)
    is_last = np.zeros(n, dtype=bool)
    is_last[starts + lengths - 1] = True
    # Gaps to the next bar of the same series, concatenated (one fewer per series).
    q = classify(np.diff(ts))[~is_last[:-1]]
    group = bar_group[~is_last]
    m = len(q)
    overall = _group_modes(q, group, k)[group]
    width = WINDOW + 1
    back = np.full(m, -1, dtype=np.int64)
    fwd = np.full(m, -1, dtype=np.int64)
    if m >= width:
        rolling = _modes(np.lib.stride_tricks.sliding_window_view(q, width))
        whole = group[: m - width + 1] == group[width - 1:]  # a window inside one series
        rolling = np.where(whole, rolling, -1)
        back[width - 1:] = rolling          # window [i - WINDOW, i]
        fwd[: m - width + 1] = rolling      # window [i, i + WINDOW]
    has_back, has_fwd = back >= 0, fwd >= 0
    neither = ~has_back & ~has_fwd
    back = np.where(neither, overall, back)
    has_back |= neither
    regular = (has_back & (q == back)) | (has_fwd & (q == fwd))
    below_b = np.where(has_back & (back <= q), back, -1)
    below_f = np.where(has_fwd & (fwd <= q), fwd, -1)
    below = np.maximum(below_b, below_f)
    gap_size = np.where(regular, q, np.where(below > 0, below, q))
    # The last bar: the dominant spacing of the gaps before it (its series' last gap's
    # backward window when complete, else the series' own most frequent gap).
    last_gap = np.cumsum(lengths - 1) - 1
    last = np.where(has_back[last_gap] & ~neither[last_gap], back[last_gap],
                    overall[last_gap])
    out = np.empty(n, dtype=np.int64)
    out[~is_last] = gap_size
    out[is_last] = last
    return out
