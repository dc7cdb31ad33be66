"""Designed price series for signal tests (deterministic, numpy only)."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, np.dtype[np.float64]]


def walk(returns: Array, start: float = 100.0) -> Array:
    return np.asarray(start * np.exp(np.concatenate(([0.0], np.cumsum(returns)))))


def uptrend(n: int = 200, seed: int = 1) -> Array:
    rng = np.random.default_rng(seed)
    return walk(0.002 + 0.001 * rng.standard_normal(n))


def mirrored(prices: Array) -> Array:
    return np.asarray(prices[0] ** 2 / prices)


def mean_reverting(n: int = 200, seed: int = 2) -> Array:
    rng = np.random.default_rng(seed)
    level = np.zeros(n + 1)
    for t in range(1, n + 1):  # an AR(1) around 0 with strong pull: a tight range
        level[t] = 0.3 * level[t - 1] + 0.002 * rng.standard_normal()
    return np.asarray(100.0 * np.exp(level))


def calm(n: int = 200, seed: int = 3) -> Array:
    rng = np.random.default_rng(seed)
    return walk(0.005 * rng.standard_normal(n))


def late_burst(n: int = 200, burst: int = 12, seed: int = 3) -> Array:
    rng = np.random.default_rng(seed)
    r = 0.005 * rng.standard_normal(n)
    r[-burst:] *= 6.0
    return walk(r)


def grind_down(n: int = 300, seed: int = 4) -> Array:
    """A slow, steady decline at low volatility: −18 % a year at 3 % annual volatility."""
    rng = np.random.default_rng(seed)
    return walk(-0.0008 + 0.002 * rng.standard_normal(n))


def volatile_bear(n: int = 400, seed: int = 5) -> Array:
    """A long bear market at high volatility, like the NASDAQ's of 2000–2002: −50 % a year
    at about 48 % volatility, with rallies of 20 % and more on the way down."""
    rng = np.random.default_rng(seed)
    return walk(-0.00275 + 0.03 * rng.standard_normal(n))


def prefixes(prices: Array, first: int) -> Array:
    """One row per cutoff from ``first`` bars on: the series as it was known then."""
    return rows(*(prices[:t] for t in range(first, len(prices) + 1)))


def rows(*series: Array) -> Array:
    """Stack series of different lengths into a right-aligned, NaN-padded panel."""
    width = max(len(s) for s in series)
    out = np.full((len(series), width), np.nan)
    for i, s in enumerate(series):
        out[i, width - len(s):] = s
    return out
