from __future__ import annotations

import numpy as np

from argus.writer import novelty
from tests.writer import series


def flat_volume(prices: series.Array) -> series.Array:
    rng = np.random.default_rng(7)
    return np.asarray(1000.0 * np.exp(0.1 * rng.standard_normal(len(prices))))


def test_late_burst_is_more_novel_than_a_calm_series() -> None:
    calm, burst = series.calm(), series.late_burst()
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
