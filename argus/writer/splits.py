"""A warning, never a refusal, for a likely unadjusted split or special dividend.

A bar is flagged when all three hold (``docs/market-data.md``):

* its close jumps from the previous close by at least ``JUMP`` (×1.8 or ÷1.8, which takes
  in 2:1, 3:1, 1:2… splits) or lies within 3 % of a 3:2 or 2:3 split;
* the next bars (up to ``AFTER``) stay at the new level: each nearer to the new close than
  halfway back to the old one, so a one-bar spike is not a split;
* its volume shows no surge: at most ``SURGE`` times the larger of the median volumes of the
  ``CONTEXT`` bars before and after it. A real crash or squeeze of that size trades heavily;
  a split changes the price unit and, after it, the share count, but the day itself is
  ordinary (its volume matches the level after the split).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np

JUMP = math.log(1.8)
NEAR = 0.03
AFTER = 5
CONTEXT = 20
SURGE = 2.0
_THREE_TWO = math.log(1.5)

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def warnings_many(symbols: list[str], starts: Any, ts: Any, close: FloatArray,
                  volume: FloatArray, new: Any) -> list[str]:
    """Messages for the flagged bars among those marked ``new``.

    The series of ``symbols`` are concatenated, each sorted by time and starting at its
    entry of ``starts``; the jump test runs over all of them at once, the rest per candidate.
    A stored jump whose next bar is new is judged again with the bars after it, and reported
    if it flags now but did not when it was the last bar (a daily append of a 10:1 split
    whose day traded ten times the old volume is flagged the next day, and only then).
    """
    out: list[str] = []
    if len(close) < 2:
        return out
    group = np.repeat(np.arange(len(starts)), np.diff(np.concatenate((starts, [len(close)]))))
    step = np.diff(np.log(close.astype(np.float64)))
    size = np.abs(step)
    jumps = ((size >= JUMP) | (np.abs(size - _THREE_TWO) <= NEAR)) & (group[1:] == group[:-1])
    follows = np.concatenate((new[2:] & ~new[1:-1], [False]))  # stored, the next bar new
    candidates = np.flatnonzero(jumps & (new[1:] | follows)) + 1
    ends = np.concatenate((starts[1:], [len(close)]))
    for i in candidates.tolist():
        g = group[i]
        first, end = int(starts[g]), int(ends[g])
        if not _flagged(close, volume, i, first, end):
            continue
        if not new[i] and _flagged(close, volume, i, first, i + 1):
            continue  # flagged already, by the import that brought it
        ratio = math.exp(step[i - 1])
        when = dt.datetime.fromtimestamp(int(ts[i]), dt.UTC)
        stamp = when.date().isoformat() if when.time() == dt.time() else when.isoformat()
        out.append(f"{symbols[g]} {stamp}: close {close[i]:g} after {close[i - 1]:g} "
                   f"(×{ratio:.3g}) with no volume surge: likely an unadjusted split or "
                   "dividend; the bars are stored as given")
    return out


def _flagged(close: FloatArray, volume: FloatArray, i: int, first: int, end: int) -> bool:
    """Whether the jump into bar ``i`` looks like a split, seeing the bars up to ``end``."""
    jump = math.log(close[i] / close[i - 1])
    after = np.log(close[i + 1:min(end, i + 1 + AFTER)] / close[i])
    if np.any(np.abs(after) >= abs(jump) / 2):
        return False
    before_v = volume[max(first, i - CONTEXT):i]
    after_v = volume[i + 1:min(end, i + 1 + CONTEXT)]
    level = max(float(np.median(before_v)) if len(before_v) else 0.0,
                float(np.median(after_v)) if len(after_v) else 0.0)
    return bool(volume[i] <= SURGE * level)
