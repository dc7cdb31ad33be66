from __future__ import annotations

import numpy as np
import pytest

from argus.data.namespaces import regime as regime_namespace
from argus.writer import regime
from argus.writer.compute import MEASURED
from tests.writer import series


def label_of(prices: series.Array, tf: str = "1h") -> str:
    res = regime.compute(series.rows(prices), tf)
    assert res.valid[0]
    return res.label[0]


def test_steady_uptrend_is_trending_up() -> None:
    assert label_of(series.uptrend()) == "trending_up"


def test_mirrored_uptrend_is_trending_down() -> None:
    assert label_of(series.mirrored(series.uptrend())) == "trending_down"


def test_tight_mean_reverting_series_is_ranging() -> None:
    assert label_of(series.mean_reverting()) == "ranging"


def test_late_volatility_burst_is_volatile() -> None:
    assert label_of(series.late_burst()) == "volatile"


def test_volatile_takes_precedence_over_a_trend() -> None:
    prices = series.uptrend()
    r = np.diff(np.log(prices))
    r[-10:] = np.array([0.05, -0.04] * 5)  # extreme swings on top of the trend
    assert label_of(series.walk(r)) == "volatile"


def test_calm_random_walk_is_not_volatile() -> None:
    assert label_of(series.calm()) != "volatile"


def test_too_few_bars_gives_no_regime() -> None:
    res = regime.compute(series.rows(series.uptrend(n=regime.MIN_RETURNS - 1)), "1h")
    assert not res.valid[0]


def test_fields_are_in_range_and_trend_is_signed() -> None:
    up, down = series.uptrend(), series.mirrored(series.uptrend())
    res = regime.compute(series.rows(up, down), "1d")
    assert np.all((res.confidence >= 0) & (res.confidence <= 1))
    assert res.trend[0] > 2 and res.trend[1] < -2
    assert np.all((res.efficiency >= 0) & (res.efficiency <= 1))
    assert res.drawdown[0] == pytest_approx(0.0) and res.drawdown[1] < -0.2
    assert np.all(res.variance_ratio > 0)


def test_slow_grind_down_at_low_volatility_is_trending_down() -> None:
    prices = series.grind_down()
    assert label_of(prices, "1d") == "trending_down"
    assert label_of(series.mirrored(prices), "1d") == "trending_up"


@pytest.mark.parametrize("seed", [5, 6, 7, 8, 9, 10])
def test_long_volatile_bear_market_is_never_ranging(seed: int) -> None:
    # Every day of the bear market's second half, as the writer would have seen it then: its
    # rallies may read trending_up, but it never reads as a range.
    res = regime.compute(series.prefixes(series.volatile_bear(seed=seed), 200), "1d")
    assert res.valid.all()
    assert "ranging" not in res.label
    assert res.label.count("trending_down") + res.label.count("volatile") > 0.6 * len(res.label)


def test_confidence_is_higher_for_a_clearer_trend() -> None:
    rng = np.random.default_rng(9)
    clean = series.walk(0.002 + 0.002 * rng.standard_normal(200))
    noisy = series.walk(0.002 + 0.006 * rng.standard_normal(200))
    res = regime.compute(series.rows(clean, noisy), "1d")
    assert res.label == ["trending_up", "trending_up"]
    assert res.confidence[0] > res.confidence[1]


def test_mean_reversion_has_a_variance_ratio_below_one() -> None:
    res = regime.compute(series.rows(series.mean_reverting(), series.uptrend()), "1h")
    assert res.variance_ratio[0] < 1.0
    assert res.efficiency[0] < res.efficiency[1]


def test_volatility_is_annualised_by_the_symbols_calendar(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same short half-life on every timeframe, so that only the calendar differs.
    monkeypatch.setattr(regime, "SHORT_HALF_LIFE", dict.fromkeys(regime.HORIZON, 10.0))
    prices = series.calm(n=300)
    both = series.rows(prices, prices)
    crypto = np.array([False, True])
    daily = regime.compute(both, "1d", crypto).volatility
    hourly = regime.compute(both, "1h", crypto).volatility
    weekly = regime.compute(both, "1w", crypto).volatility
    # Same returns: an equity's year is 252 sessions (of 6.5 hours), a pair's 365 whole days.
    assert daily[1] / daily[0] == pytest_approx(np.sqrt(365 / 252))
    assert hourly[1] / hourly[0] == pytest_approx(np.sqrt(365 * 24 / (252 * 6.5)))
    assert weekly[0] == weekly[1] == pytest_approx(daily[0] * np.sqrt(52 / 252))


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, rel=1e-9)


def test_rows_with_different_lengths_are_independent() -> None:
    res = regime.compute(series.rows(series.uptrend(n=300), series.mean_reverting(n=60)), "1h")
    assert res.label[:2] == ["trending_up", "ranging"]


def test_the_calendar_comes_from_the_canonical_symbol() -> None:
    from argus.symbols import is_crypto_pair

    assert is_crypto_pair("BINANCE:BTC-USDT") and is_crypto_pair("KRAKEN:ETH-EUR")
    assert not any(is_crypto_pair(s) for s in ("AAPL", "BRK.B", "NASDAQ:AAPL", "STX"))


def test_the_computation_gives_every_numeric_field_the_namespace_declares() -> None:
    # ``compute`` stores ``getattr(res, name)`` for each (``writer/compute.MEASURED``): a field
    # declared in ``data/namespaces/regime.FIELDS`` is computed here or the writer fails.
    res = regime.compute(series.rows(series.uptrend(), series.mean_reverting()), "1d")
    assert tuple(f.name for f in regime_namespace.FIELDS if f.kind == "number") == MEASURED
    for name in MEASURED:
        column = getattr(res, name)
        assert column.shape == (2,) and np.isfinite(column[res.valid]).all(), name


def test_every_window_scales_with_the_timeframes_horizon() -> None:
    for constants in (regime.SHORT_HALF_LIFE, regime.LONG_HALF_LIFE, regime.VR_BARS,
                      regime.DIRECTION_K, regime.DIRECTION_CAP, regime.RANGE_EFFICIENCY_Z,
                      regime.RANGE_TREND,
                      regime.RANGE_VARIANCE_RATIO, regime.BREAKOUT):
        assert set(constants) == set(regime.HORIZON)
    for tf, h in regime.HORIZON.items():
        assert regime.SHORT_HALF_LIFE[tf] < h < regime.LONG_HALF_LIFE[tf]
        assert regime.VR_BARS[tf] >= h


def test_a_crash_years_ago_fades_from_the_monthly_baseline() -> None:
    # Ten years of ±3 % months, a year of ±20 % months, then fifteen years of ±3 % again: the
    # long baseline has let the crash go, so today's volatility reads as normal, not as a
    # fraction of a baseline still frozen by a crash fifteen years ago.
    r = np.tile([0.03, -0.03], 156)
    r[120:132] = np.tile([-0.2, 0.2], 6)
    res = regime.compute(series.rows(series.walk(r)), "1M")
    assert res.valid[0] and 0.8 < res.vol_ratio[0] < 1.25


def test_the_monthly_variance_ratio_reads_the_horizons_months() -> None:
    # Five years of a steady climb, then a year of alternating months: the variance ratio is
    # that year's mean reversion, not the climb's persistence.
    climb = 0.02 + 0.005 * np.random.default_rng(8).standard_normal(48)
    chop = np.tile([0.04, -0.04], 6)
    res = regime.compute(series.rows(series.walk(np.concatenate((climb, chop)))), "1M")
    assert res.variance_ratio[0] < 0.5


def _climb_then_chop(last: float) -> series.Array:
    # Forty months of a steady climb, nine months of ±2 % chop around one level, then a month
    # that moves ``last`` from that level.
    climb = 0.015 + 0.03 * np.random.default_rng(9).standard_normal(40)
    chop = np.tile([0.02, -0.02], 5)[:-1]
    return series.walk(np.concatenate((climb, chop, [-0.02 + last])))


@pytest.fixture
def breakout_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The breakout rule on for ``1M``, whatever the tuning selected for it."""
    monkeypatch.setitem(regime.BREAKOUT, "1M", 1.0)


@pytest.mark.usefixtures("breakout_rule")
def test_a_monthly_close_above_its_channel_in_an_up_phase_is_a_trend_not_a_range() -> None:
    # The chop reads ``ranging``; a close above every close of the nine months before it,
    # in the up-phase the climb started, is a breakout (Donchian): ``trending_up``.
    inside, breakout = _climb_then_chop(0.01), _climb_then_chop(0.04)
    res = regime.compute(series.rows(inside, breakout), "1M")
    assert res.label == ["ranging", "trending_up"]


@pytest.mark.usefixtures("breakout_rule")
def test_a_monthly_close_below_its_channel_against_the_up_phase_stays_a_range() -> None:
    # A new nine-month low that has not turned the phase is no trend of either kind.
    assert label_of(_climb_then_chop(-0.03), "1M") == "ranging"


@pytest.mark.usefixtures("breakout_rule")
def test_a_flat_monthly_series_with_no_phase_and_no_move_stays_a_range() -> None:
    # Nine months repeated: no phase has begun and the move over the horizon is exactly
    # zero, so there is no direction; no breakout either, and the range stays a range.
    close = 100 * np.tile([1.0, 1.01, 1.0, 1.01, 1.0, 1.01, 1.0, 1.01, 1.005], 4)
    res = regime.compute(series.rows(close), "1M")
    assert res.valid[0] and res.trend[0] == 0.0 and res.label[0] == "ranging"


def _volatile_climb_then_fall() -> series.Array:
    # Five years of ±12 % months that climb 2 % a month, ending at the peak, then four months
    # of −6 %: a fall of 21 % from the peak, a bear market by the dating rule's 20 %.
    return series.walk(np.concatenate((np.tile([-0.10, 0.14], 30), np.full(4, -0.06))))


def test_a_volatile_stocks_bear_market_turns_the_monthly_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    # The threshold scales with volatility (0.7 · 12 % · √9 ≈ 25 %) but never beyond the cap:
    # a fall the dating rule calls a bear market turns the phase, however volatile the stock.
    close = _volatile_climb_then_fall()
    assert regime.DIRECTION_CAP["1M"] <= 0.2
    assert label_of(close, "1M") == "trending_down"
    monkeypatch.setitem(regime.DIRECTION_CAP, "1M", float("inf"))
    assert label_of(close, "1M") == "trending_up"  # uncapped, the fall is not yet a turn
