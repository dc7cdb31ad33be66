"""Novelty: how unusual a symbol's latest buckets are against its own history.

On the base timeframe's panel (``docs/signals.md``), the latest ``RECENT`` returns are the
*recent window*, everything before it the *history*. Three statistics of any ``RECENT``-long
window: the mean return over the RMS return of the ``BASE`` buckets before it; the log RMS
deviation of returns from the history's median return (volatility) less the same over those
``BASE`` buckets; and the mean ``ln(1 + volume)`` less its mean over those buckets.
Volatility clusters and volume trends for years, so a level that has lasted for months is
not novel; a change is.

Each statistic is standardized against the same statistic over *every* ``RECENT``-long
window of the history (median and RMS deviation from it), not against a standard error
``σ/√RECENT`` that assumes independent buckets: volume's lag-1 autocorrelation is about 0.95
on real data, so its window means spread far more than ``1/√RECENT`` says. This block-based
spread accounts for autocorrelation.

``zscore`` is the root mean square of the three distances, ``score`` the χ² distribution
function of ``k · zscore²`` with ``k = EFFECTIVE_DOF`` degrees of freedom, ``1 − exp(−k ·
zscore² / 2)``: uniform in 0..1 for ``k`` independent standard normal distances. The three
are positively correlated (volatility and volume rise together), so they count as about two
(fitted on the tuning part of ``bench.signal_eval``: the score is ≥ 0.9 on 13 % of days).
``percentile`` is the share of the history's own windows (scored the same way) whose zscore
is at most the current one. ``window`` is the number of returns used. Fewer than
``MIN_HISTORY`` history returns: no novelty.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from argus.writer.resample import FloatMatrix, log_returns, trim

RECENT = 10
MIN_HISTORY = 30
#: Volatility and volume are measured against the ``BASE`` buckets before each window: both
#: move in slow regimes (volatility clusters; S&P 500 volume grew ×5 from 1999 to 2008), and
#: a level that has lasted for months is no longer news.
BASE = 50
EFFECTIVE_DOF = 2.0


@dataclass(frozen=True, slots=True)
class NoveltyArrays:
    valid: np.ndarray[Any, np.dtype[np.bool_]]
    score: FloatMatrix
    zscore: FloatMatrix
    percentile: FloatMatrix
    window: np.ndarray[Any, np.dtype[np.int64]]


def _rolling(x: FloatMatrix, width: int) -> tuple[FloatMatrix, FloatMatrix]:
    """Rolling sums and non-NaN counts over ``width`` columns."""
    filled = np.nan_to_num(x, nan=0.0)
    present = (~np.isnan(x)).astype(np.float64)
    pad = np.zeros((x.shape[0], 1))
    cs = np.concatenate((pad, np.cumsum(filled, axis=1)), axis=1)
    cc = np.concatenate((pad, np.cumsum(present, axis=1)), axis=1)
    return cs[:, width:] - cs[:, :-width], cc[:, width:] - cc[:, :-width]


def _before(base: FloatMatrix) -> FloatMatrix:
    """Align a ``BASE``-wide rolling statistic to the ``RECENT``-wide window that follows it."""
    out = np.full((base.shape[0], base.shape[1] + BASE - RECENT), np.nan)
    out[:, BASE:] = base[:, :-RECENT]
    return out


def _mean_of(x: FloatMatrix) -> FloatMatrix:
    s, n = _rolling(x, BASE)
    return np.where(n == BASE, s / BASE, np.nan)


def log_rms_of(r: FloatMatrix, mu: FloatMatrix) -> FloatMatrix:
    s, n = _rolling((r - mu) ** 2, BASE)
    rms = np.sqrt(np.where(n == BASE, s / BASE, np.nan))
    return np.log(np.where(rms > 0, rms, np.nan))


def _robust(x: FloatMatrix) -> tuple[FloatMatrix, FloatMatrix]:
    """Row-wise median and RMS deviation from it (NaN where the spread is zero).

    The RMS, not the MAD: these statistics are heavy-tailed (volatility clusters), and a
    MAD-based scale made one day in five look extreme.
    """
    med = np.nanmedian(x, axis=1)[:, None]
    spread = np.sqrt(np.nanmean((x - med) ** 2, axis=1))[:, None]
    return med, np.where(spread > 1e-12, spread, np.nan)


def compute(close: FloatMatrix, volume: FloatMatrix) -> NoveltyArrays:
    close, volume = trim(close, volume, keep=RECENT + BASE + 1)
    r = log_returns(close)
    lv = np.log1p(np.where(volume >= 0, volume, np.nan))[:, 1:]
    hist_r = r[:, :-RECENT]
    n_hist = np.sum(~np.isnan(hist_r), axis=1)
    if r.shape[1] < RECENT + BASE:  # too short for any reference window
        r = np.concatenate((np.full((r.shape[0], RECENT + BASE - r.shape[1]), np.nan), r),
                           axis=1)
        lv = np.concatenate((np.full((lv.shape[0], r.shape[1] - lv.shape[1]), np.nan), lv), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmedian(hist_r, axis=1)[:, None]

        # Every window's statistics, ending anywhere: those ending inside the history are
        # the reference, the last one is the recent window.
        sr, nr = _rolling(r, RECENT)
        sq, _ = _rolling((r - mu) ** 2, RECENT)
        sv, nv = _rolling(lv, RECENT)
        whole = nr == RECENT
        rms = np.sqrt(sq / np.where(whole, nr, np.nan))
        log_rms = np.log(np.where(rms > 0, rms, np.nan))
        mean_lv = np.where(nv == RECENT, sv / RECENT, np.nan)
        local = _before(log_rms_of(r, mu))
        every = (np.where(whole, sr / nr, np.nan) / np.exp(local), log_rms - local,
                 mean_lv - _before(_mean_of(lv)))
        past = tuple(x[:, :-RECENT] for x in every)
        now = [x[:, -1:] for x in every]
        centre = [_robust(x) for x in past]

        def z_of(values: tuple[FloatMatrix, ...] | list[FloatMatrix]) -> FloatMatrix:
            parts = [(v - m) / s for v, (m, s) in zip(values, centre, strict=True)]
            # Volume may be absent or constant: it then adds no distance.
            parts[2] = np.nan_to_num(parts[2], nan=0.0, posinf=0.0, neginf=0.0)
            return np.sqrt((parts[0] ** 2 + parts[1] ** 2 + parts[2] ** 2) / 3)

        current = z_of(now)[:, 0]
        past_z = z_of(past)
        past_z = np.where(np.isnan(past[0]) | np.isnan(past[1]), np.nan, past_z)
        n_past = np.sum(~np.isnan(past_z), axis=1)
        percentile = np.sum(past_z <= current[:, None], axis=1) / np.maximum(n_past, 1)
    valid = (n_hist >= MIN_HISTORY) & np.isfinite(current) & (n_past > 0)
    score = 1.0 - np.exp(-EFFECTIVE_DOF * np.nan_to_num(current) ** 2 / 2)
    window = np.sum(~np.isnan(r), axis=1).astype(np.int64)
    return NoveltyArrays(valid, score, current, percentile, window)
