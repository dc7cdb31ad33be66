"""The evaluation's own parts: its references (the bull/bear dating rule, realised volatility)
and its bookkeeping (finished buckets at a cutoff, agreement, terciles), on designed series.
The evaluation itself runs on real history with ``python -m bench.signal_eval``."""

from __future__ import annotations

import numpy as np

from argus.writer import regime
from bench import signal_eval as ev
from tests.writer import series


def test_a_twenty_percent_fall_dates_a_bear_phase_from_its_peak_to_its_trough() -> None:
    # Up 50 % over 50 days, down 30 % over 30, up 40 % over 40.
    close = series.walk(np.concatenate((np.full(50, np.log(1.5) / 50),
                                        np.full(30, np.log(0.7) / 30),
                                        np.full(40, np.log(1.4) / 40))))
    phase = ev.phases(close)
    peak, trough = 50, 80
    assert (phase[:peak] == 1).all()
    assert (phase[peak:trough] == -1).all()
    assert (phase[trough:] == 1).all()


def test_the_dating_rule_read_in_real_time_turns_only_once_the_move_is_complete() -> None:
    # Up 50 % over 50 days, down 30 % over 30, up 40 % over 40, as above.
    steps = np.concatenate((np.full(50, np.log(1.5) / 50), np.full(30, np.log(0.7) / 30),
                            np.full(40, np.log(1.4) / 40)))
    close = series.walk(steps)
    now = ev.realtime_phases(close, 0.2)
    start = np.log(close) - np.log(close[0])
    first_up = int(np.argmax(start >= -np.log(0.8)))
    down = 50 + int(np.argmax(np.log(close[50:] / close[50]) <= np.log(0.8)))
    up = 80 + int(np.argmax(np.log(close[80:] / close[80]) >= -np.log(0.8)))
    assert (now[:first_up] == 0).all()
    assert (now[first_up:down] == 1).all()
    assert (now[down:up] == -1).all()
    assert (now[up:] == 1).all()
    # The hindsight rule dates the bear phase from day 50; read in real time, its first
    # days are still bull days, and the days after the trough are still bear days.
    assert down > 50 and up > 80
    assert (ev.realtime_phases(close, 0.35) >= 0).all()  # a 30 % fall never turns 35 %


def test_a_correction_short_of_twenty_percent_stays_in_the_bull_phase() -> None:
    close = series.walk(np.concatenate((np.full(50, 0.01), np.full(15, np.log(0.85) / 15),
                                        np.full(50, 0.01))))
    assert (ev.phases(close) == 1).all()


def test_a_cutoff_reads_only_the_buckets_finished_by_then() -> None:
    end = np.array([10, 20, 30, 40])
    values = np.array([1.0, 2.0, 3.0, 4.0])
    rows = ev.at_cutoffs(end, values, np.array([5, 20, 39, 100]), window=3)
    assert np.isnan(rows[0]).all()
    assert np.array_equal(rows[1], [np.nan, 1.0, 2.0], equal_nan=True)
    assert np.array_equal(rows[2], [1.0, 2.0, 3.0])
    assert np.array_equal(rows[3], [2.0, 3.0, 4.0])


def test_days_that_read_the_same_finished_weeks_get_the_labels_of_a_per_day_computation() -> None:
    # 120 weekly closes, each day of the week a cutoff: five days share each set of buckets.
    weeks = series.walk(0.004 + 0.02 * np.random.default_rng(4).standard_normal(119))
    end = np.arange(1, 121) * 7 * ev.DAY
    cutoff = np.arange(7 * ev.DAY, 121 * 7 * ev.DAY, ev.DAY)
    once = ev.regime_at(end, weeks, cutoff, "1w")
    per_day = regime.compute(ev.at_cutoffs(end, weeks, cutoff), "1w")
    assert once.label == per_day.label
    assert np.array_equal(once.valid, per_day.valid)
    assert np.allclose(once.confidence, per_day.confidence, rtol=0, atol=1e-12)
    assert np.allclose(once.trend, per_day.trend, rtol=0, atol=1e-12, equal_nan=True)


def test_a_label_agrees_with_what_happened_by_its_own_reference() -> None:
    n = 4
    sc = ev.Scored("X", np.zeros(n), np.ones(n),
                   label={"1d": np.array(["trending_up", "trending_down", "volatile", "ranging"])},
                   confidence={}, valid={}, volatility_1d=np.zeros(n), trend_1d=np.zeros(n),
                   novelty=np.zeros(n), novelty_valid=np.zeros(n, dtype=bool),
                   phase=np.array([1, 1, -1, 1]), rv=np.zeros(n),
                   rv_pct=np.array([0.5, 0.5, 0.9, 0.1]),
                   calm_move={"1d": np.array([False, False, False, True])})
    assert ev.agreement(sc, "1d").tolist() == [True, False, True, True]
    sc.rv_pct[3] = 0.9  # a quiet move in a volatile market is no range
    assert not ev.agreement(sc, "1d")[3]


def test_phase_rates_count_bull_days_read_up_and_bear_days_read_down_or_volatile() -> None:
    labels = np.array(["trending_up", "ranging", "trending_down", "volatile", "trending_up"])
    phase = np.array([1, 1, -1, -1, -1])
    assert ev.phase_rates(labels, phase) == (0.5, 2 / 3)
    assert np.isnan(ev.phase_rates(labels, np.ones(5, dtype=int))[1])
    assert ev.largest_share(labels) == 0.4


def test_terciles_split_confidence_into_equal_thirds() -> None:
    which = ev.terciles(np.random.default_rng(5).random(300))
    assert np.bincount(which).tolist() == [100, 100, 100]


def test_realised_volatility_is_annualised_by_252_sessions() -> None:
    close = series.walk(np.tile([0.01, -0.01], 30))
    rv = ev.realised_vol(close)
    assert np.isnan(rv[:21]).all()
    expected = np.std(np.tile([0.01, -0.01], 11)[:21], ddof=1) * np.sqrt(252)
    assert np.allclose(rv[21:], expected)
