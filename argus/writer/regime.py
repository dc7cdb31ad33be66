"""Regime per symbol and timeframe, vectorized over a panel of closes (``docs/signals.md``).

From the log returns of the latest buckets:

* ``trend``: the drift t-statistic of the last ``TREND_BARS`` returns,
  ``mean / std × √n`` — the window's move in units of a random walk's spread, signed.
* ``volatility``: the standard deviation of those returns, annualised with the number of
  buckets of the timeframe in a 365.25-day year.
* ``vol_ratio``: the RMS deviation of the last ``BURST_BARS`` returns from the median
  return, over the symbol's own robust volatility (1.4826 × the median absolute deviation
  of all its returns in the window).

Label: ``volatile`` when ``vol_ratio ≥ VOLATILE_RATIO`` (it takes precedence), else
``trending_up`` / ``trending_down`` when ``|trend| ≥ TREND_T``, else ``ranging``. A symbol
with fewer than ``MIN_RETURNS`` returns gets no regime at all.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from argus import keys
from argus.writer.resample import FloatMatrix, log_returns

MODEL = "argus-regime/1"
MIN_RETURNS = 20
TREND_BARS = 60
BURST_BARS = 10
TREND_T = 2.0
VOLATILE_RATIO = 2.0
DAY = 86_400
#: Equities: 252 sessions a year of 6.5 hours each; crypto: 365 days around the clock.
EQUITY_SESSIONS = 252
EQUITY_SESSION_SECONDS = 6.5 * 3_600
CRYPTO_DAYS = 365
CALENDAR_PER_YEAR = {"1w": 52.0, "1M": 12.0}
LABELS = ("trending_up", "trending_down", "ranging", "volatile")


@dataclass(frozen=True, slots=True)
class RegimeArrays:
    """Per-row results; rows where ``valid`` is false have no regime."""

    valid: np.ndarray[Any, np.dtype[np.bool_]]
    label: list[str]
    confidence: FloatMatrix
    volatility: FloatMatrix
    trend: FloatMatrix
    vol_ratio: FloatMatrix


def periods_per_year(timeframe: str, crypto: np.ndarray[Any, np.dtype[np.bool_]]) -> FloatMatrix:
    """Buckets of ``timeframe`` in a year of each row's calendar (``symbols.is_crypto_pair``).

    An equity has 252 daily buckets a year and an intraday one spans trading hours only (6.5
    a session: no bars overnight); weeks and months are calendar ones for both (52, 12).
    """
    seconds = keys.TIMEFRAME_SECONDS[timeframe]
    if timeframe in CALENDAR_PER_YEAR:
        return np.full(len(crypto), CALENDAR_PER_YEAR[timeframe])
    equity = (EQUITY_SESSIONS * DAY / seconds if seconds >= DAY
              else EQUITY_SESSIONS * EQUITY_SESSION_SECONDS / seconds)
    return np.where(crypto, CRYPTO_DAYS * DAY / seconds, equity).astype(np.float64)


def compute(close: FloatMatrix, timeframe: str,
            crypto: np.ndarray[Any, np.dtype[np.bool_]] | None = None) -> RegimeArrays:
    """``crypto``: which rows are crypto pairs (default: none, every row an equity)."""
    if crypto is None:
        crypto = np.zeros(close.shape[0], dtype=bool)
    r = log_returns(close)
    n_total = np.sum(~np.isnan(r), axis=1)
    recent = r[:, -TREND_BARS:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.sum(~np.isnan(recent), axis=1)
        mean = np.nanmean(recent, axis=1)
        std = np.nanstd(recent, axis=1, ddof=1)
        safe_std = np.where(std > 1e-12, std, 1e-12)
        trend = mean / safe_std * np.sqrt(n)
        volatility = std * np.sqrt(periods_per_year(timeframe, crypto))
        median = np.nanmedian(r, axis=1)
        robust = 1.4826 * np.nanmedian(np.abs(r - median[:, None]), axis=1)
        burst = np.sqrt(np.nanmean((r[:, -BURST_BARS:] - median[:, None]) ** 2, axis=1))
        vol_ratio = np.where(robust > 1e-12, burst / np.where(robust > 1e-12, robust, 1), 1.0)
    valid = (n_total >= MIN_RETURNS) & np.isfinite(trend) & np.isfinite(volatility)
    volatile = vol_ratio >= VOLATILE_RATIO
    trending = ~volatile & (np.abs(trend) >= TREND_T)
    label = np.where(volatile, "volatile",
                     np.where(trending, np.where(trend > 0, "trending_up", "trending_down"),
                              "ranging"))
    confidence = np.where(
        volatile, np.clip(0.5 + (vol_ratio - VOLATILE_RATIO) / (2 * VOLATILE_RATIO), 0.5, 1.0),
        np.where(trending, np.clip(0.5 + (np.abs(trend) - TREND_T) / (2 * TREND_T), 0.5, 1.0),
                 np.clip(1.0 - np.abs(trend) / (2 * TREND_T), 0.5, 1.0)))
    return RegimeArrays(valid, [str(x) for x in label], confidence, volatility, trend, vol_ratio)
