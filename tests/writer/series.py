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


def rows(*series: Array) -> Array:
    """Stack series of different lengths into a right-aligned, NaN-padded panel."""
    width = max(len(s) for s in series)
    out = np.full((len(series), width), np.nan)
    for i, s in enumerate(series):
        out[i, width - len(s):] = s
    return out
