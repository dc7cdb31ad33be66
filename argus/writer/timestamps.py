"""Timestamps of imported bars: read for sure, or refused with a reason, never guessed.

``parse_ts`` accepts ISO-8601 dates and datetimes (naive = UTC; an offset is honoured) and
Unix seconds, negative before 1970, or another unit when ``--ts-unit`` says so. It refuses
an integer that reads as ``YYYYMMDD``, a number too large for seconds (naming the unit it
looks like), a time that is not a whole second, and anything outside what the bars table
stores (``DateTime64``: 1900-01-01 to 2299-12-31).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping

TS_UNITS: Mapping[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
#: What ``DateTime64`` stores: 1900-01-01 to 2299-12-31 (UTC).
MIN_TS, MAX_TS = -2_208_988_800, 10_413_791_999
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_ts(text: str, unit: str = "s") -> tuple[int, int]:
    """``(instant, local)`` in Unix seconds: the UTC instant and the wall-clock time there.

    ``local`` is the instant shifted by the written offset (equal to it for UTC, naive times,
    dates and numbers), so its date is the exchange-local date.
    """
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return (seconds := _from_number(text, unit)), seconds
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"bad timestamp {text!r} (ISO-8601 or Unix seconds)") from exc
    if moment.microsecond:
        raise ValueError(f"bad timestamp {text!r}: bars start on whole seconds")
    offset = moment.utcoffset()
    shift = int(offset.total_seconds()) if offset is not None else 0
    naive = moment.replace(tzinfo=None)
    local = (naive - dt.datetime(1970, 1, 1)) // dt.timedelta(seconds=1)
    return _in_range(local - shift, text), local


def _from_number(text: str, unit: str) -> int:
    if _INTEGER.fullmatch(text) and _looks_like_yyyymmdd(text):
        raise ValueError(f"timestamp {text!r} looks like a YYYYMMDD date, not Unix seconds: "
                         f"write it as {text[:4]}-{text[4:6]}-{text[6:8]}")
    factor = TS_UNITS[unit]
    if _INTEGER.fullmatch(text):
        whole, rest = divmod(int(text), factor)
    else:
        value = float(text) / factor
        if not math.isfinite(value):
            raise ValueError(f"bad timestamp {text!r}")
        whole, rest = math.floor(value), int(value != math.floor(value))
    if rest:
        raise ValueError(f"bad timestamp {text!r}: bars start on whole seconds")
    if unit == "s" and abs(whole) > MAX_TS:
        digits = len(str(abs(whole)))
        guess = "milliseconds" if digits <= 13 else "microseconds" if digits <= 16 else \
            "nanoseconds"
        raise ValueError(f"timestamp {text!r} is not Unix seconds (it looks like {guess}): "
                         "pass --ts-unit ms, us or ns")
    return _in_range(whole, text)


def _looks_like_yyyymmdd(text: str) -> bool:
    if len(text) != 8 or not text.isdigit():
        return False
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return 1900 <= day.year <= 2299


def _in_range(seconds: int, text: str) -> int:
    if not MIN_TS <= seconds <= MAX_TS:
        raise ValueError(f"timestamp {text!r} is outside 1900-01-01 to 2299-12-31, "
                         "the range stored")
    return seconds
