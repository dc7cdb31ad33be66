"""Regime per symbol and timeframe, vectorized over a panel of closes (``docs/signals.md``).

Model ``argus-regime/2``. From the log returns ``r`` and log closes ``p`` of a row's buckets,
with ``H`` the timeframe's trend horizon in buckets (``HORIZON``):

* ``σ_s``: short volatility, an exponentially weighted RMS of ``r`` (RiskMetrics-style, half-life
  ``SHORT_HALF_LIFE``, about a sixth of ``H``); ``volatility`` is ``σ_s`` annualised by the symbol's calendar.
* ``σ_l``: the long baseline, the same with half-life ``LONG_HALF_LIFE``: slow to adapt, so a
  long bear market's volatility does not become its own norm within weeks.
* ``vol_ratio = σ_s / σ_l``.
* Direction: a real-time Lunde–Timmermann / Pagan–Sossounov filter on ``p``. A rise of ``θ``
  from the running trough since the last peak starts an up-phase, a fall of ``θ`` from the
  running peak since the last trough a down-phase, with ``θ = min(DIRECTION_K · σ_l · √H,
  DIRECTION_CAP)`` (both per timeframe, selected by ``bench.signal_tune``): the classic
  rule's 20 % scaled to each symbol's volatility and timeframe and lowered for a real-time
  reading (≈ 9.5 % on the S&P 500's daily bars; the dating rule waits for 20 %), but on ``1M``
  never more than a 7.5 % move: a stock's volatility must not hide a fall that the dating
  rule calls a bear market.
* ``trend``: the move over ``H`` buckets in units of the long baseline, ``(p_T − p_{T−H}) /
  (σ_l √H)``, signed (never divided by the window's own volatility, which falls hide).
* ``efficiency``: Kaufman's efficiency ratio over ``H``, ``|p_T − p_{T−H}| / Σ|r|``, 0..1.
* ``variance_ratio``: Lo–MacKinlay ``VR(q) = Var(q-bucket returns) / (q · Var(r))`` over the
  latest ``VR_BARS`` returns (``H``), ``q = VR_Q``; below 1 means mean reversion.
* ``drawdown``: ``close / running peak of the window − 1`` (≤ 0).

Label, in this order: ``volatile`` when ``vol_ratio ≥ VOLATILE_RATIO``; ``ranging`` on positive
evidence of no trend, ``efficiency · √H`` at most ``RANGE_EFFICIENCY_Z`` with ``|trend|`` under
``RANGE_TREND`` and a variance ratio below ``RANGE_VARIANCE_RATIO`` (or a very low efficiency;
these three per timeframe, selected by ``bench.signal_tune`` on the tuning part), unless the filter is
in a down-phase deeper than ``θ`` or more than ``2θ`` (at most 20 %) below the window's peak
(a bear market is never a range) or, where ``BREAKOUT`` is on (nowhere since stop 17's
selection), the close is beyond
every close of the ``H`` buckets before it in the phase's direction (a breakout is never a
range); else the filter's phase,
``trending_up`` / ``trending_down`` (before the first phase: the sign of ``trend``).

``confidence`` is the evidence for the label, mapped to 0..1 by ``1 − exp(−evidence)``: for
a trend, how far the close is from flipping the phase plus how far ``trend`` agrees with it;
for ``volatile`` the log vol ratio's excess; for ``ranging`` the shortfall of the efficiency
ratio and of the variance ratio below their bounds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from argus import keys
from argus.writer.resample import FloatMatrix, log_returns, trim

MODEL = "argus-regime/2"
MIN_RETURNS = 20
#: Trend horizon in buckets: about three months on daily bars, half a year on weekly, nine months
#: on monthly; intraday ones span a comparable number of buckets (a day or two of trading).
HORIZON = {"1m": 60, "5m": 48, "15m": 32, "1h": 24, "4h": 30, "1d": 63, "1w": 26, "1M": 9}
#: Half-lives of the short volatility and of the long baseline, in buckets, in units of the
#: horizon so that every timeframe reads its own scale: the short one about a sixth of it (10
#: daily buckets, as RiskMetrics' λ = 0.94; 4 weeks; 2 months), the long one four horizons
#: (252 daily buckets, a year; 104 weeks; 36 months): slow, but a crash's months still fade.
SHORT_HALF_LIFE = {tf: float(max(2, round(h / 6))) for tf, h in HORIZON.items()}
LONG_HALF_LIFE = {tf: float(4 * h) for tf, h in HORIZON.items()}
#: The constants below that vary by timeframe were selected for ``1d``, ``1w`` and ``1M`` by
#: ``python -m bench.signal_tune --grid wide`` on the tuning part of the evaluation (the S&P 500
#: before 2009, the US market's months of 1926–1998, Microsoft and Alphabet; stop 17); the
#: intraday ones keep the earlier scalar values: there is no real intraday history to tune
#: them on (ten months of hourly EUR/USD are reported, not tuned on).
#: ``θ``'s factor: how far, in long-baseline moves over the horizon, a turn must go.
DIRECTION_K = {**dict.fromkeys(HORIZON, 1.0), "1M": 0.7}
#: ... at most a fall of this fraction (as a log move, both ways; ``inf``: no cap): the dating
#: rule calls a 20 % fall a bear market whatever the symbol's volatility.
DIRECTION_CAP = {**dict.fromkeys(HORIZON, float("inf")), "1M": 0.075}
VOLATILE_RATIO = 1.6
BEAR_DRAWDOWN = -float(np.log(0.8))  # the conventional bear market: 20 % below the peak
#: Ranging needs the efficiency ratio × √H (≈ |z| / 0.8 for a random walk) at most this ...
RANGE_EFFICIENCY_Z = {**dict.fromkeys(HORIZON, 0.9), "1d": 0.9, "1w": 2.5, "1M": 2.0}
#: ... and ``|trend|`` under this ...
RANGE_TREND = {**dict.fromkeys(HORIZON, 1.0), "1M": 0.75}
#: ... and mean reversion, a variance ratio below this, unless the move is tiny (none on 1d, 1w, 1M).
RANGE_VARIANCE_RATIO = {**dict.fromkeys(HORIZON, 1.1), **dict.fromkeys(("1d", "1w", "1M"), float("inf"))}
#: A breakout is never a range: where on, a close beyond every close of the ``H`` buckets before
#: it (a new ``H``-bucket closing high or low: Donchian's channel, the turtle traders' entry)
#: in the direction of the phase is not ``ranging``, whatever the other bounds say (1.0 on,
#: 0.0 off).
BREAKOUT = dict.fromkeys(HORIZON, 0.0)
#: Evidence weights (fitted on the tuning part of ``bench.signal_eval``).
TREND_SAFETY_WEIGHT = 1.0
TREND_AGREE_WEIGHT = 0.5
RANGE_WEIGHT = 0.6
VOLATILE_WEIGHT = 2.0
#: The variance ratio's window, like the half-lives in units of the horizon: the latest ``H``
#: returns (at least three ``VR_Q`` sums), so that on ``1M`` it reads the horizon's months and
#: not five years of them.
VR_Q = 4
VR_BARS = {tf: max(h, 3 * VR_Q) for tf, h in HORIZON.items()}
DAY = 86_400
#: Equities: 252 sessions a year of 6.5 hours each; crypto: 365 days around the clock.
EQUITY_SESSIONS = 252
EQUITY_SESSION_SECONDS = 6.5 * 3_600
CRYPTO_DAYS = 365
CALENDAR_PER_YEAR = {"1w": 52.0, "1M": 12.0}
LABELS = ("trending_up", "trending_down", "ranging", "volatile")

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass(frozen=True, slots=True)
class RegimeArrays:
    """Per-row results; rows where ``valid`` is false have no regime."""

    valid: BoolArray
    label: list[str]
    confidence: FloatMatrix
    volatility: FloatMatrix
    trend: FloatMatrix
    vol_ratio: FloatMatrix
    drawdown: FloatMatrix
    efficiency: FloatMatrix
    variance_ratio: FloatMatrix


def periods_per_year(timeframe: str, crypto: BoolArray) -> FloatMatrix:
    """Buckets of ``timeframe`` in a year of each row's calendar (``symbols.is_crypto_pair``).

    An equity has 252 daily buckets a year and an intraday one spans trading hours only (6.5
    a session: no bars overnight); weeks and months are calendar ones for both (52, 12).
    """
    seconds = keys.TIMEFRAME_SECONDS[timeframe]
    if timeframe in CALENDAR_PER_YEAR:
        return np.full(len(crypto), CALENDAR_PER_YEAR[timeframe])
    equity = (EQUITY_SESSIONS * DAY / seconds if seconds >= DAY
              else EQUITY_SESSIONS * EQUITY_SESSION_SECONDS / seconds)
    return np.where(crypto, CRYPTO_DAYS * DAY / seconds, equity).astype(np.float64)


def _ewm_rms(r: FloatMatrix, half_life: float) -> FloatMatrix:
    """Exponentially weighted RMS of each row at its last column, over its non-NaN values."""
    age = np.arange(r.shape[1] - 1, -1, -1, dtype=np.float64)
    w = 0.5 ** (age / half_life)
    present = ~np.isnan(r)
    num = np.where(present, r * r, 0.0) @ w
    den = present.astype(np.float64) @ w
    return np.asarray(np.sqrt(num / np.where(den > 0, den, np.nan)))


def _phases(p: FloatMatrix, theta: FloatMatrix) -> tuple[FloatMatrix, FloatMatrix, FloatMatrix]:
    """The real-time peak/trough filter: phase (+1, −1, 0 before the first) and its extremes.

    A loop over columns (buckets), vectorized over rows: the filter is sequential by nature.
    """
    n = p.shape[0]
    state = np.zeros(n)
    peak = np.full(n, -np.inf)
    trough = np.full(n, np.inf)
    for col in range(p.shape[1]):
        x = p[:, col]
        ok = ~np.isnan(x)
        peak = np.where(ok, np.fmax(peak, x), peak)
        trough = np.where(ok, np.fmin(trough, x), trough)
        down = ok & (state >= 0) & (x <= peak - theta)
        up = ok & (state <= 0) & (x >= trough + theta)
        state = np.where(down, -1.0, np.where(up, 1.0, state))
        # A new phase measures from here: a down-phase's trough, an up-phase's peak.
        trough = np.where(down, x, trough)
        peak = np.where(up, x, peak)
    return state, peak, trough


def compute(close: FloatMatrix, timeframe: str, crypto: BoolArray | None = None) -> RegimeArrays:
    """``crypto``: which rows are crypto pairs (default: none, every row an equity)."""
    if crypto is None:
        crypto = np.zeros(close.shape[0], dtype=bool)
    horizon = HORIZON[timeframe]
    close = trim(close)[0]
    r = log_returns(close)
    n_total = np.sum(~np.isnan(r), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.log(np.where(close > 0, close, np.nan))
        sigma_s = _ewm_rms(r, SHORT_HALF_LIFE[timeframe])
        sigma_l = _ewm_rms(r, LONG_HALF_LIFE[timeframe])
        safe_l = np.where(sigma_l > 1e-12, sigma_l, np.nan)
        volatility = sigma_s * np.sqrt(periods_per_year(timeframe, crypto))
        vol_ratio = sigma_s / safe_l
        # The horizon shrinks to what a short row has (at least MIN_RETURNS to be valid).
        h = np.minimum(horizon, n_total)
        last = p[:, -1]
        rows = np.arange(p.shape[0])
        start = p[rows, np.maximum(p.shape[1] - 1 - h, 0)]
        move = last - start
        trend = move / (safe_l * np.sqrt(np.maximum(h, 1)))
        recent = np.where(np.arange(r.shape[1])[None, :] >= r.shape[1] - h[:, None], r, np.nan)
        path = np.nansum(np.abs(recent), axis=1)
        efficiency = np.clip(np.abs(move) / np.where(path > 0, path, np.nan), 0.0, 1.0)
        variance_ratio = _variance_ratio(r, VR_BARS[timeframe])
        theta = np.minimum(DIRECTION_K[timeframe] * safe_l * np.sqrt(horizon),
                           _log_fall(DIRECTION_CAP[timeframe]))
        state, peak, trough = _phases(p, np.nan_to_num(theta, nan=np.inf))
        top = np.nanmax(p, axis=1)
        drawdown = np.exp(last - top) - 1.0
    valid = (n_total >= MIN_RETURNS) & np.isfinite(trend) & np.isfinite(volatility)
    direction = np.where(state != 0, state, np.sign(trend))
    # A bear market is never a range: not in a down-phase past its threshold, nor anywhere
    # more than twice the threshold (or the conventional 20 %) below the window's peak.
    deep_down = (((state < 0) & (last - peak <= -theta))
                 | (last - top <= -np.minimum(2 * theta, BEAR_DRAWDOWN)))
    volatile = vol_ratio >= VOLATILE_RATIO
    ez_bound, trend_bound = RANGE_EFFICIENCY_Z[timeframe], RANGE_TREND[timeframe]
    vr_bound = RANGE_VARIANCE_RATIO[timeframe]
    ez = efficiency * np.sqrt(np.maximum(h, 1))
    ranging = (~volatile & ~deep_down & (np.abs(trend) < trend_bound) & (ez <= ez_bound)
               & ((variance_ratio < vr_bound) | (ez <= ez_bound / 2)))
    if BREAKOUT[timeframe]:
        breakout = _breakout(p, h)
        ranging &= ~((breakout != 0) & (breakout == direction))
    up = ~volatile & ~ranging & (direction > 0)
    label = np.where(volatile, "volatile", np.where(
        ranging, "ranging", np.where(up, "trending_up", "trending_down")))
    with np.errstate(invalid="ignore"):
        # Safety: how far the close is from flipping the phase (1 at a new extreme, 0 at the
        # opposite threshold), plus how far the trend agrees with the phase.
        safety = np.where(direction > 0, last - (peak - theta), (trough + theta) - last) / theta
        agree = np.clip(direction * trend, 0.0, 2.0)
        e_trend = (TREND_SAFETY_WEIGHT * np.clip(safety, 0.0, 1.0) + TREND_AGREE_WEIGHT * agree)
        e_vol = VOLATILE_WEIGHT * (1.0 + np.log(np.maximum(vol_ratio, 1e-12) / VOLATILE_RATIO))
        e_range = RANGE_WEIGHT * (np.clip(1.0 - ez / ez_bound, 0.0, 1.0)
                                  + np.clip(1.0 - variance_ratio, 0.0, 1.0))
        evidence = np.where(volatile, e_vol, np.where(ranging, e_range, e_trend))
    confidence = 1.0 - np.exp(-np.clip(np.nan_to_num(evidence), 0.0, None))
    return RegimeArrays(valid, [str(x) for x in label], confidence, volatility, trend, vol_ratio,
                        drawdown, np.nan_to_num(efficiency), np.nan_to_num(variance_ratio, nan=1.0))


def _log_fall(fraction: float) -> float:
    """A fall of ``fraction`` (0.2: 20 %) as a log move; ``inf`` for none."""
    return -float(np.log1p(-fraction)) if fraction < 1 else float("inf")


def _breakout(p: FloatMatrix, h: np.ndarray[Any, Any]) -> FloatMatrix:
    """+1 where a row's last close is above every close of the ``h`` buckets before it, −1
    where below every one, else 0."""
    col = np.arange(p.shape[1])[None, :]
    before = (col < p.shape[1] - 1) & (col >= p.shape[1] - 1 - h[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row with no closes before: no breakout
        high = np.nanmax(np.where(before, p, np.nan), axis=1)
        low = np.nanmin(np.where(before, p, np.nan), axis=1)
    last = p[:, -1]
    return np.asarray(np.where(last > high, 1.0, np.where(last < low, -1.0, 0.0)))


def _variance_ratio(r: FloatMatrix, bars: int) -> FloatMatrix:
    """Lo–MacKinlay VR(q) of the latest ``bars`` returns (overlapping q-sums), per row."""
    recent = r[:, -bars:]
    n = np.sum(~np.isnan(recent), axis=1)
    mu = np.nanmean(recent, axis=1)[:, None]
    var1 = np.nanmean((recent - mu) ** 2, axis=1)
    filled = np.nan_to_num(recent - mu)
    cs = np.concatenate((np.zeros((r.shape[0], 1)), np.cumsum(filled, axis=1)), axis=1)
    sums = cs[:, VR_Q:] - cs[:, :-VR_Q]
    present = np.concatenate((np.zeros((r.shape[0], 1)),
                              np.cumsum(~np.isnan(recent), axis=1)), axis=1)
    whole = (present[:, VR_Q:] - present[:, :-VR_Q]) == VR_Q
    varq = np.sum(np.where(whole, sums**2, 0.0), axis=1) / np.maximum(whole.sum(axis=1), 1)
    return np.asarray(np.where(n > 2 * VR_Q, varq / (VR_Q * np.where(var1 > 0, var1, np.nan)),
                               np.nan))
