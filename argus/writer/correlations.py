"""Correlations: Pearson of aligned log returns, top K partners per symbol, blockwise.

Every symbol's returns on the base timeframe's common grid (``resample.load(aligned=True)``)
are demeaned over the values it has, missing buckets set to 0 and the row scaled to unit
norm, so one matrix product gives every Pearson coefficient of a block of rows against
the whole universe (a missing bucket then contributes nothing to either side). A second
product of the presence masks counts each pair's common buckets; pairs with fewer than
``MIN_OVERLAP`` are dropped (skipped for a block whose rows have so many returns that every
pair must share enough). Blocks of ``BLOCK`` rows keep memory at BLOCK × N floats.

Top K by |coefficient| per symbol: the entries of each block's rows at or above a lower
bound of the row's K-th strongest, sorted (``_strongest``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from argus.writer.resample import FloatMatrix

MIN_OVERLAP = 20
BLOCK = 1024
#: Columns whose k-th strongest bounds a row's candidates (``_strongest``).
SAMPLE = 2048
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
    width = returns.shape[1]
    fewest = int(counts[ok].min()) if ok.any() else 0
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        block = z[start:stop] @ z.T
        # Two rows share at least count_i + count_j − width buckets: when that bound clears
        # MIN_OVERLAP for every pair of the block, the presence product is not needed.
        in_block = counts[start:stop][ok[start:stop]]
        if in_block.size and int(in_block.min()) + fewest - width < MIN_OVERLAP:
            overlap = mask[start:stop] @ mask.T
            block[overlap < MIN_OVERLAP] = 0.0
        rows = np.arange(stop - start)
        block[rows, rows + start] = 0.0  # never one's own partner
        partner[start:stop], coef[start:stop] = _strongest(block, k)
    return TopK(partner, coef, counts)


def _strongest(block: np.ndarray[Any, np.dtype[np.float32]], k: int) -> tuple[IntMatrix, FloatMatrix]:
    """Each row's ``k`` largest nonzero |values|, strongest first, ties by column.

    The k-th largest |value| among the first ``SAMPLE`` columns is a lower bound of the row's
    own k-th largest, so only the entries at or above it are candidates: a sort of a few
    hundred per row instead of a selection over the whole universe (``argpartition`` over
    every column was four fifths of the refresh's correlation time).
    """
    n_rows, n_cols = block.shape
    strength = np.abs(block)
    sample = strength[:, :min(n_cols, SAMPLE)]
    if sample.shape[1] >= k:
        kth = sample.shape[1] - k
        bound = np.partition(sample, kth, axis=1)[:, kth]
    else:  # too few columns to bound the k-th: every nonzero entry is a candidate
        bound = np.zeros(n_rows, dtype=strength.dtype)
    r_idx, c_idx = np.nonzero((strength >= bound[:, None]) & (strength > 0))
    values = strength[r_idx, c_idx]
    order = np.lexsort((c_idx, -values, r_idx))
    r_idx, c_idx = r_idx[order], c_idx[order]
    rank = np.arange(len(r_idx)) - np.searchsorted(r_idx, np.arange(n_rows))[r_idx]
    keep = rank < k
    partner = np.full((n_rows, k), -1, dtype=np.int64)
    coef = np.zeros((n_rows, k))
    partner[r_idx[keep], rank[keep]] = c_idx[keep]
    coef[r_idx[keep], rank[keep]] = np.clip(block[r_idx[keep], c_idx[keep]].astype(np.float64),
                                            -1.0, 1.0)
    return partner, coef


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
