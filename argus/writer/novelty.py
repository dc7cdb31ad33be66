"""Novelty: how unusual a symbol's latest buckets are against its own history.

On the base timeframe's panel (``docs/signals.md``), the latest ``RECENT`` returns are the
*recent window*, everything before it the *history*. Three standardized distances of the
recent window from the history, each robust (median and MAD, not mean and std):

* return: ``(mean recent return − median) / (σ / √RECENT)``
* volatility: ``ln(recent RMS deviation / σ) × √(2·RECENT)`` (the log of a sample std has
  standard error ≈ 1/√(2n))
* volume: ``(mean recent log volume − median) / (1.4826·MAD / √RECENT)``

``zscore`` is their root mean square, ``score = 1 − exp(−zscore² / 2)`` in 0..1, and
``percentile`` the share of the history's own ``RECENT``-long windows (scored against the
same baseline) whose zscore is at most the current one. ``window`` is the number of returns
used. Fewer than ``MIN_HISTORY`` history returns: no novelty.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from argus.writer.resample import FloatMatrix, log_returns

RECENT = 10
MIN_HISTORY = 30


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


def compute(close: FloatMatrix, volume: FloatMatrix) -> NoveltyArrays:
    r = log_returns(close)
    lv = np.log1p(np.where(volume >= 0, volume, np.nan))[:, 1:]
    hist_r, hist_v = r[:, :-RECENT], lv[:, :-RECENT]
    n_hist = np.sum(~np.isnan(hist_r), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mu = np.nanmedian(hist_r, axis=1)[:, None]
        sigma = 1.4826 * np.nanmedian(np.abs(hist_r - mu), axis=1)[:, None]
        sigma = np.where(sigma > 1e-12, sigma, np.nan)
        v_med = np.nanmedian(hist_v, axis=1)[:, None]
        v_mad = 1.4826 * np.nanmedian(np.abs(hist_v - v_med), axis=1)[:, None]

        def zscores(r_part: FloatMatrix, v_part: FloatMatrix) -> FloatMatrix:
            sr, nr = _rolling(r_part, RECENT)
            sq, _ = _rolling((r_part - mu) ** 2, RECENT)
            sv, nv = _rolling(v_part, RECENT)
            z_ret = (sr / nr - mu) / (sigma / np.sqrt(RECENT))
            z_vol = np.log(np.sqrt(sq / nr) / sigma) * np.sqrt(2 * RECENT)
            z_volume = np.where(v_mad > 1e-12,
                                (sv / nv - v_med) / (np.where(v_mad > 1e-12, v_mad, 1)
                                                     / np.sqrt(RECENT)), 0.0)
            z = np.sqrt((z_ret**2 + z_vol**2 + np.nan_to_num(z_volume) ** 2) / 3)
            return np.where(nr == RECENT, z, np.nan)

        current = zscores(r[:, -RECENT:], lv[:, -RECENT:])[:, -1]
        past = zscores(hist_r, hist_v)
        n_past = np.sum(~np.isnan(past), axis=1)
        percentile = np.sum(past <= current[:, None], axis=1) / np.maximum(n_past, 1)
    valid = (n_hist >= MIN_HISTORY) & np.isfinite(current) & (n_past > 0)
    score = 1.0 - np.exp(-np.nan_to_num(current) ** 2 / 2)
    window = np.sum(~np.isnan(r), axis=1).astype(np.int64)
    return NoveltyArrays(valid, score, current, percentile, window)
