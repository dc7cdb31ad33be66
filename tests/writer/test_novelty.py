from __future__ import annotations

import numpy as np

from argus.writer import novelty
from tests.writer import series


def flat_volume(prices: series.Array) -> series.Array:
    rng = np.random.default_rng(7)
    return np.asarray(1000.0 * np.exp(0.1 * rng.standard_normal(len(prices))))


def test_late_burst_is_more_novel_than_a_calm_series() -> None:
    # The burst fills the recent window exactly, so no bar of it is in the history.
    calm, burst = series.calm(), series.late_burst(burst=novelty.RECENT)
    res = novelty.compute(series.rows(calm, burst), series.rows(flat_volume(calm),
                                                                 flat_volume(burst)))
    assert res.valid.all()
    assert res.score[1] > res.score[0]
    assert res.score[1] > 0.9
    assert res.percentile[1] == 1.0  # no window of its own history was as unusual


def test_scores_are_bounded_and_window_counts_returns() -> None:
    calm = series.calm(n=150)
    res = novelty.compute(series.rows(calm), series.rows(flat_volume(calm)))
    assert 0.0 <= res.score[0] <= 1.0
    assert 0.0 <= res.percentile[0] <= 1.0
    assert res.zscore[0] >= 0.0
    assert res.window[0] == 150


def test_volume_spike_alone_raises_novelty() -> None:
    calm = series.calm()
    quiet = flat_volume(calm)
    loud = quiet.copy()
    loud[-novelty.RECENT:] *= 20
    res = novelty.compute(series.rows(calm, calm), series.rows(quiet, loud))
    assert res.zscore[1] > res.zscore[0] + 2


def test_short_history_gives_no_novelty() -> None:
    short = series.calm(n=novelty.RECENT + novelty.MIN_HISTORY - 1)
    res = novelty.compute(series.rows(short), series.rows(flat_volume(short)))
    assert not res.valid[0]


def test_persistent_volume_autocorrelation_does_not_saturate_the_score() -> None:
    # Log volume as an AR(1) with lag-1 autocorrelation 0.95 (as on real index data), prices
    # a calm random walk: ordinary history, so the score is ≥ 0.9 on about a tenth of days.
    rng = np.random.default_rng(11)
    n, cutoffs = 700, 400
    lv = np.zeros(n + 1)
    for t in range(1, n + 1):
        lv[t] = 0.95 * lv[t - 1] + 0.3 * rng.standard_normal()
    prices = series.walk(0.01 * rng.standard_normal(n))
    volume = 1e6 * np.exp(lv)
    close = series.rows(*(prices[t - 300:t] for t in range(n + 1 - cutoffs, n + 1)))
    vol = series.rows(*(volume[t - 300:t] for t in range(n + 1 - cutoffs, n + 1)))
    res = novelty.compute(close, vol)
    assert res.valid.all()
    high = float(np.mean(res.score >= 0.9))
    assert 0.02 <= high <= 0.2
    assert 0.3 <= float(np.median(res.score)) <= 0.7
