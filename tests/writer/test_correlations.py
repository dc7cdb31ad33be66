from __future__ import annotations

import numpy as np
import pytest

from argus.writer import correlations
from tests.writer import series


def returns_of(*prices: series.Array) -> series.Array:
    return np.diff(np.log(series.rows(*prices)), axis=1)


def test_noisy_copy_correlates_above_0_9_and_mirror_below_minus_0_9() -> None:
    rng = np.random.default_rng(11)
    base = series.calm(n=300)
    noisy = base * np.exp(0.0015 * rng.standard_normal(len(base)))
    unrelated = series.calm(n=300, seed=99)
    top = correlations.compute(returns_of(base, noisy, series.mirrored(base), unrelated), k=3)
    coef = dict(zip(top.partner[0].tolist(), top.coef[0].tolist(), strict=True))
    assert coef[1] > 0.9
    assert coef[2] < -0.9
    assert abs(coef[3]) < 0.3


@pytest.mark.parametrize("sample", [2048, 6, 1])
def test_blockwise_result_equals_numpy_corrcoef(monkeypatch: pytest.MonkeyPatch, sample: int) -> None:
    monkeypatch.setattr(correlations, "BLOCK", 7)  # several blocks, a ragged last one
    monkeypatch.setattr(correlations, "SAMPLE", sample)  # the candidates' bound from a few columns
    rng = np.random.default_rng(5)
    factor = rng.standard_normal(120)
    r = 0.6 * factor + rng.standard_normal((30, 120))
    top = correlations.compute(r, k=5)
    expected = np.corrcoef(r)
    assert isinstance(expected, np.ndarray)  # a matrix for a 2-D input, never a scalar
    np.fill_diagonal(expected, 0)
    for i in range(30):
        want = np.argsort(-np.abs(expected[i]), kind="stable")[:5]
        assert sorted(top.partner[i].tolist()) == sorted(want.tolist())
        np.testing.assert_allclose(top.coef[i], expected[i, top.partner[i]], atol=1e-5)
        assert list(np.abs(top.coef[i])) == sorted(np.abs(top.coef[i]), reverse=True)


def test_too_little_overlap_gives_no_partner() -> None:
    rng = np.random.default_rng(3)
    r = rng.standard_normal((3, 100))
    r[2, : 100 - correlations.MIN_OVERLAP + 1] = np.nan  # only 19 returns left
    top = correlations.compute(r, k=2)
    assert 2 not in top.partner[0].tolist()
    assert (top.partner[2] == -1).all()


def test_rows_with_enough_returns_that_share_too_few_get_no_partner() -> None:
    rng = np.random.default_rng(4)
    factor = rng.standard_normal(100)
    r = np.vstack([factor + 0.1 * rng.standard_normal(100) for _ in range(3)])
    r[0, 55:] = np.nan   # returns 0–54
    r[1, :40] = np.nan   # returns 40–99: 15 in common with row 0
    top = correlations.compute(r, k=2)
    assert 1 not in top.partner[0].tolist() and 0 not in top.partner[1].tolist()
    assert top.partner[0].tolist()[0] == 2 and top.partner[1].tolist()[0] == 2


def test_rows_with_few_gaps_skip_no_pair_and_match_the_dense_result() -> None:
    rng = np.random.default_rng(6)
    factor = rng.standard_normal(200)
    r = 0.5 * factor + rng.standard_normal((12, 200))
    r[::3, ::7] = np.nan  # every pair still shares far more than MIN_OVERLAP returns
    top = correlations.compute(r, k=4)
    for i in range(12):
        for j, c in zip(top.partner[i].tolist(), top.coef[i].tolist(), strict=True):
            both = ~np.isnan(r[i]) & ~np.isnan(r[j])
            a = np.where(np.isnan(r[i]), 0.0, r[i] - np.nanmean(r[i]))
            b = np.where(np.isnan(r[j]), 0.0, r[j] - np.nanmean(r[j]))
            assert both.sum() >= correlations.MIN_OVERLAP
            assert c == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-5)


def test_both_directions_keep_own_top_k_and_at_most_k_more() -> None:
    # Rows 1..6 all choose row 0 (a hub); row 0 chooses rows 1 and 2 (k=2).
    partner = np.array([[1, 2]] + [[0, -1]] * 6, dtype=np.int64)
    coef = np.array([[0.9, 0.8]] + [[0.9 - i / 100, 0.0] for i in range(6)])
    top = correlations.TopK(partner, coef, np.full(7, 100, dtype=np.int64))
    kept = correlations.both_directions(top, k=2)
    assert set(kept[0]) == {1, 2, 3, 4}  # own two plus the two strongest incoming
    assert len(kept[0]) <= 2 * 2
    assert kept[5] == {0: pytest.approx(0.86)}
