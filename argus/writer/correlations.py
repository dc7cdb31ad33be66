"""Correlations: Pearson of aligned log returns, top K partners per symbol, blockwise.

Every symbol's returns on the base timeframe's common grid (``resample.load(aligned=True)``)
are demeaned over the values it has, missing buckets set to 0 and the row scaled to unit
norm, so one matrix product gives every Pearson coefficient of a block of rows against
the whole universe (a missing bucket then contributes nothing to either side). A second
product of the presence masks counts each pair's common buckets; pairs with fewer than
``MIN_OVERLAP`` are dropped. Blocks of ``BLOCK`` rows keep memory at BLOCK × N floats.

Top K by |coefficient| per symbol comes from ``argpartition`` on each block's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from argus.writer.resample import FloatMatrix

MIN_OVERLAP = 20
BLOCK = 1024
IntMatrix = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class TopK:
    """``partner[i, j]`` is the j-th strongest partner of row i (−1: none), ``coef`` its value."""

    partner: IntMatrix
    coef: FloatMatrix
    window: IntMatrix  # returns per row


def compute(returns: FloatMatrix, k: int) -> TopK:
    n = returns.shape[0]
    present = ~np.isnan(returns)
    counts = present.sum(axis=1).astype(np.int64)
    eligible = counts >= MIN_OVERLAP
    k = max(0, min(k, n - 1))
    partner = np.full((n, k), -1, dtype=np.int64)
    coef = np.zeros((n, k))
    if k == 0 or eligible.sum() < 2:
        return TopK(partner, coef, counts)
    means = np.nanmean(np.where(eligible[:, None], returns, 0.0), axis=1)
    centred = np.where(present, returns - means[:, None], 0.0)
    centred[~eligible] = 0.0
    norms = np.linalg.norm(centred, axis=1)
    ok = eligible & (norms > 1e-12)
    z = (centred / np.where(ok, norms, 1.0)[:, None]).astype(np.float32)
    z[~ok] = 0.0
    mask = (present & ok[:, None]).astype(np.float32)
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        block = z[start:stop] @ z.T
        overlap = mask[start:stop] @ mask.T
        block[overlap < MIN_OVERLAP] = 0.0
        rows = np.arange(stop - start)
        block[rows, rows + start] = 0.0  # never one's own partner
        strength = np.abs(block)
        top = np.argpartition(-strength, k - 1, axis=1)[:, :k]
        top_strength = np.take_along_axis(strength, top, axis=1)
        # Strongest first; ties by partner index (symbols are sorted, so by name).
        order = np.lexsort((top, -top_strength), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        values = np.take_along_axis(block, top, axis=1).astype(np.float64)
        found = np.abs(values) > 0
        partner[start:stop] = np.where(found, top, -1)
        coef[start:stop] = np.where(found, np.clip(values, -1.0, 1.0), 0.0)
    return TopK(partner, coef, counts)


def both_directions(top: TopK, k: int) -> list[dict[int, float]]:
    """Each row's kept partners: its own top K plus up to K rows that chose it (≤ 2K).

    A pair is written in both directions when it can be; a symbol chosen by more than K
    others keeps the K strongest of them (``docs/contract/clarifications.md`` §2).
    """
    n = top.partner.shape[0]
    own: list[dict[int, float]] = [{} for _ in range(n)]
    incoming: list[list[tuple[float, int]]] = [[] for _ in range(n)]
    rows, cols = np.nonzero(top.partner >= 0)
    partners = top.partner[rows, cols]
    values = top.coef[rows, cols]
    for i, j, c in zip(rows.tolist(), partners.tolist(), values.tolist(), strict=True):
        own[i][j] = c
        incoming[j].append((c, i))
    for j in range(n):
        extra = [(c, i) for c, i in incoming[j] if i not in own[j]]
        extra.sort(key=lambda ci: (-abs(ci[0]), ci[1]))
        for c, i in extra[:k]:
            own[j][i] = c
    return own
