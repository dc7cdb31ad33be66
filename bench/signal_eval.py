"""Signal evaluation on real daily index and stock history: ``python -m bench.signal_eval``.

Needs the ``eval`` extra (``arch``, which ships S&P 500 and NASDAQ Composite daily bars,
1999–2018; ``pmdarima``, ``backtesting`` and ``skfolio``, whose data files the holdouts read
without importing them). The bars go into a chDB table of a temporary directory through the bars table's
own DDL (``market.create_table``), every bar with an explicit 1-day size (``bar_seconds =
86400``). Each series is resampled once by the writer's own SQL (``resample.query``); the
regime and novelty of every trading day are then the writer's compute functions on the
buckets that were *finished* at that day's close: a bucket's close never changes once it is
finished, so this equals ``argus write --once`` run after every close, which ``--check``
verifies at a few days through ``compute.compute`` itself.

References, computed with hindsight:

* bull and bear phases: Pagan–Sossounov / Lunde–Timmermann dating, a 20 % fall from a peak
  starts a bear phase at that peak, a 20 % rise from a trough a bull phase at that trough;
* realised volatility: the standard deviation of the last 21 daily log returns × √252, and
  its percentile within the series' own history.

For scale, each part also prints the dating rule read day by day without hindsight
(``realtime_phases``, moves of 5–20 %): what a label that knew each day all the rule knows by
then would read. It scores no label and sets no constant.

Agreement of a label with what happened, per day and timeframe: ``trending_up`` in a bull
phase, ``trending_down`` in a bear phase, ``volatile`` when realised volatility is in the
series' top third, ``ranging`` when the move over the days around the day (21 each side on
``1d``, 63 on ``1w``, 126 on ``1M``: the timeframe's horizon) is smaller than the series'
median such move and realised volatility is not in the top third.

Tuned on the S&P 500 before 2009, for ``1M`` also on the US market's months of 1926–1998
(``load_monthly``), and since stop 17 on the first holdout (``load_holdout``: Microsoft from
``pmdarima``, Alphabet from ``backtesting``); reported on the S&P 500 from 2009 and NASDAQ
throughout, on Bitcoin's month ends (``load_bitcoin``) and on the second holdout, registered
before its run (``load_second_holdout``: 19 S&P 500 stocks from ``skfolio``)
(``docs/signals.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import shutil
import tarfile
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from argus import keys
from argus.settings import Settings
from argus.writer import clickhouse, market, novelty, regime, resample
from argus.writer.clickhouse import ClickHouse
from argus.writer.compute import compute

DAY = 86_400
TIMEFRAMES = ("1d", "1w", "1M")
WINDOW = 500
PHASE_MOVE = 0.20
SPLIT = dt.date(2009, 1, 1)
CALM_HORIZON = {"1d": 21, "1w": 63, "1M": 126}  # trading days each side
Array = np.ndarray[Any, np.dtype[Any]]


def load_history() -> dict[str, Any]:
    from arch.data import nasdaq, sp500

    return {"SPX": sp500.load(), "IXIC": nasdaq.load()}


def package_file(package: str, *path: str) -> Path:
    """A data file a package ships, found without importing the package (``pmdarima`` imports
    scikit-learn, ``backtesting`` bokeh)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the eval extra is missing {package}: pip install -e '.[eval]'")
    return Path(next(iter(spec.submodule_search_locations)), *path)


def backtesting_csv(name: str) -> Any:
    """One of the CSV files ``backtesting`` ships for its tests, indexed by date."""
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    return pd.read_csv(package_file("backtesting", "test", name), index_col=0, parse_dates=True)


def load_holdout() -> dict[str, Any]:
    """The fresh holdout (stop 16): two stocks' daily bars that no stop's decisions saw.

    Microsoft, 1986-03-13 to 2017-11-10, split- and dividend-adjusted (``pmdarima``), and
    Alphabet (GOOG), 2004-08-19 to 2013-03-01, unadjusted, with no split inside (``backtesting``).
    """
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    with tarfile.open(package_file("pmdarima", "datasets", "data", "msft.tar.gz")) as tar:
        member = tar.extractfile("msft.csv")
        assert member is not None
        msft = pd.read_csv(member, index_col="Date", parse_dates=True)
    return {"MSFT": msft, "GOOG": backtesting_csv("GOOG.csv")}


#: The second holdout (stop 17): skfolio's 20 S&P 500 constituents less Microsoft, which the
#: stop-16 holdout used.
SECOND_HOLDOUT_SKIP = ("MSFT",)


def load_second_holdout() -> dict[str, Any]:
    """The second holdout (stop 17): daily adjusted closes of 19 S&P 500 constituents,
    1990-01-02 to 2022-12-28, that ``skfolio`` ships (``sp500_dataset.csv.gz``), as shipped.

    The file has closes only: open, high and low are the close and volume is 0, so novelty has
    no volume to read and is not judged on these stocks (``docs/signals.md``).
    """
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    closes = pd.read_csv(package_file("skfolio", "datasets", "data", "sp500_dataset.csv.gz"),
                         index_col=0, parse_dates=True)
    frames = {}
    for symbol in closes.columns:
        if symbol in SECOND_HOLDOUT_SKIP:
            continue
        close = closes[symbol].dropna()
        frames[symbol] = pd.DataFrame({"Open": close, "High": close, "Low": close,
                                       "Close": close, "Volume": 0.0}, index=close.index)
    return frames


#: The monthly tuning stretch ends where the daily history begins: it shares no day with the
#: out-of-sample parts.
MONTHLY_END = dt.date(1999, 1, 1)


@dataclass
class Monthly:
    """The US stock market's months before ``MONTHLY_END`` (Fama–French, from ``arch``)."""

    end: Array    # each month's end, Unix seconds (the first of the next month, 00:00 UTC)
    close: Array  # the excess-return index, 100 before the first month
    crypto: bool = False


def load_monthly() -> Monthly:
    """The value-weighted US market, July 1926 to December 1998: Ken French's ``Mkt-RF``
    (the market's return over the one-month T-bill) cumulated into an index.

    The excess return stands in for a price index: it leaves out the T-bill's drift, about as
    large over these decades as the dividends a price index leaves out (both ≈ 4 % a year).
    """
    from arch.data import frenchdata

    frame = frenchdata.load()
    # The index holds YYYYMM as nanoseconds since 1970 (how the package parses its file).
    yyyymm = frame.index.values.astype(np.int64)
    month = (((yyyymm // 100) - 1970) * 12 + yyyymm % 100 - 1).astype("datetime64[M]")
    end = (month + 1).astype("datetime64[s]").astype(np.int64)
    close = 100 * np.cumprod(1 + frame["Mkt-RF"].to_numpy(np.float64) / 100)
    keep = month < np.datetime64(MONTHLY_END, "M")
    return Monthly(end[keep], close[keep])


def load_bitcoin() -> Monthly:
    """Bitcoin in US dollars, month ends from January 2012 to December 2024 (``backtesting``'s
    test data): the only real crypto history here, reported on ``1M`` alone (stop 16)."""
    frame = backtesting_csv("BTCUSD.csv")
    month = frame.index.values.astype("datetime64[M]")
    end = (month + 1).astype("datetime64[s]").astype(np.int64)
    return Monthly(end, frame["Close"].to_numpy(np.float64), crypto=True)


def monthly_labels(monthly: Monthly) -> tuple[Array, Array]:
    """``1M`` labels and validity at every month's end (the writer's ``regime.compute``)."""
    res = regime.compute(at_cutoffs(monthly.end, monthly.close, monthly.end), "1M",
                         np.full(len(monthly.end), monthly.crypto))
    return np.array(res.label), res.valid


def report_monthly(monthly: Monthly, name: str) -> None:
    labels, valid = monthly_labels(monthly)
    labels, phase = labels[valid], phases(monthly.close)[valid]
    bull_up, bear_down = phase_rates(labels, phase)
    print(f"\n== {name}, month ends ==")
    print(f"months: {len(labels)}; label shares "
          + "  ".join(f"{name} {pct(float(np.mean(labels == name)))}" for name in regime.LABELS))
    print(f"bull: trending_up {pct(bull_up)} of {int(np.sum(phase == 1))}"
          f"   bear: trending_down or volatile {pct(bear_down)} of {int(np.sum(phase == -1))}")


def bar_times(frame: Any, bar_seconds: int = DAY) -> Array:
    """Each bar's start, Unix seconds: a daily bar at 00:00 UTC of its date."""
    unit = "datetime64[D]" if bar_seconds >= DAY else "datetime64[s]"
    return np.asarray(frame.index.values.astype(unit).astype("datetime64[s]").astype(np.int64))


#: Reported only (stop 17): real hourly history for the intraday timeframes.
INTRADAY = ("1h", "4h")
HOUR = 3_600


def report_intraday(ch: ClickHouse) -> None:
    """EUR/USD's hourly bars (``backtesting``'s test data, April 2017 to February 2018) on
    ``1h`` and ``4h``: label shares, the ``volatile`` label's realised-volatility percentile
    (24 hourly returns) and the novelty distribution. Nothing is tuned on it; the dating rule's
    20 % means nothing at this scale, so there is no bull/bear reference."""
    frame = backtesting_csv("EURUSD.csv")
    insert(ch, {"EURUSD": frame}, bar_seconds=HOUR)
    s = resampled(ch, "EURUSD", frame, INTRADAY, HOUR)
    cutoff = s.days + HOUR
    rv_pct = percentile_rank(realised_vol(s.close, 24))
    print(f"\n== reported only, intraday: EUR/USD hourly, {len(s.days)} bars ==")
    for tf in INTRADAY:
        end, close, _ = s.buckets[tf]
        res = regime_at(end, close, cutoff, tf)
        labels = np.array(res.label)[res.valid]
        vol_pct = rv_pct[res.valid][labels == "volatile"]
        print(f"  {tf:<3} ({len(labels)} bars) "
              + "  ".join(f"{lab} {pct(float(np.mean(labels == lab)))}" for lab in regime.LABELS)
              + f"   volatile bars' realised-vol percentile: mean {np.nanmean(vol_pct):.2f}")
    end, close, volume = s.buckets["1h"]
    nov = novelty.compute(at_cutoffs(end, close, cutoff), at_cutoffs(end, volume, cutoff))
    scores = nov.score[nov.valid]
    deciles = np.histogram(scores, bins=np.linspace(0, 1, 11))[0] / len(scores)
    print(f"  novelty (1h) ≥ 0.9 on {pct(float(np.mean(scores >= 0.9)))} of {len(scores)} bars;"
          " share per tenth: " + " ".join(f"{100 * d:.0f}" for d in deciles))


def insert(ch: ClickHouse, frames: dict[str, Any], table: str = market.TABLE,
           bar_seconds: int = DAY) -> None:
    market.create_table(ch, table)
    for symbol, frame in frames.items():
        ch.client.insert_arrow(table, pa.table({
            "symbol": pa.array([symbol] * len(frame), pa.string()),
            "ts": pa.array(bar_times(frame, bar_seconds).astype(np.uint32), pa.uint32()),
            "bar_seconds": pa.array(np.full(len(frame), bar_seconds, dtype=np.uint32),
                                    pa.uint32()),
            **{c.lower(): pa.array(frame[c].to_numpy(np.float64))
               for c in ("Open", "High", "Low", "Close", "Volume")},
        }))


def bucket_end(tf: str, start: Array) -> Array:
    if tf == "1M":
        month = start.astype("datetime64[s]").astype("datetime64[M]") + 1
        return np.asarray(month.astype("datetime64[s]").astype(np.int64))
    return start + keys.TIMEFRAME_SECONDS[tf]


@dataclass
class Series:
    symbol: str
    days: Array        # trading days, Unix seconds at 00:00 UTC
    close: Array
    buckets: dict[str, tuple[Array, Array, Array]]  # tf → (end, close, volume)


def resampled(ch: ClickHouse, symbol: str, frame: Any, timeframes: tuple[str, ...] = TIMEFRAMES,
              bar_seconds: int = DAY) -> Series:
    """``days``: each bar's start (a trading day's 00:00 UTC for daily bars)."""
    days = bar_times(frame, bar_seconds)
    buckets = {}
    for tf in timeframes:
        data = ch.arrow(resample.query(tf, symbols=[symbol], now=2**40),
                        {"symbols": [symbol]})
        start = data.column("bucket").to_numpy().astype(np.int64)
        buckets[tf] = (bucket_end(tf, start), data.column("close").to_numpy().astype(float),
                       data.column("volume").to_numpy().astype(float))
    return Series(symbol, days, frame["Close"].to_numpy(np.float64), buckets)


def at_cutoffs(end: Array, values: Array, cutoff_end: Array, window: int = WINDOW) -> Array:
    """Row per cutoff: the latest ``window`` buckets finished by then, right-aligned."""
    count = np.searchsorted(end, cutoff_end, side="right")
    padded = np.concatenate((np.full(window, np.nan), values))
    return np.asarray(padded[count[:, None] + np.arange(window)[None, :]])


def regime_at(end: Array, close: Array, cutoff_end: Array, tf: str,
              crypto: bool = False) -> regime.RegimeArrays:
    """``regime.compute`` at every cutoff on the buckets finished by then, computed once per
    distinct set of them: the days of a week (month) whose bucket has not finished read the
    same buckets as the day before, and the model is row by row, so the labels are the same
    (the numbers to the last bit: a matrix product's rounding depends on its rows)."""
    count = np.searchsorted(end, cutoff_end, side="right")
    _, first, inverse = np.unique(count, return_index=True, return_inverse=True)
    res = regime.compute(at_cutoffs(end, close, cutoff_end[first]), tf,
                         np.full(len(first), crypto))
    return regime.RegimeArrays(
        res.valid[inverse], [res.label[i] for i in inverse], res.confidence[inverse],
        res.volatility[inverse], res.trend[inverse], res.vol_ratio[inverse],
        res.drawdown[inverse], res.efficiency[inverse], res.variance_ratio[inverse])


def phases(close: Array, move: float = PHASE_MOVE) -> Array:
    """+1 bull, −1 bear per day (Pagan–Sossounov / Lunde–Timmermann, ``move`` both ways)."""
    n = len(close)
    out = np.zeros(n, dtype=np.int64)
    state = 0
    hi_i = lo_i = 0
    last = 0  # start of the current phase
    for t in range(n):
        if close[t] > close[hi_i]:
            hi_i = t
        if close[t] < close[lo_i]:
            lo_i = t
        if state >= 0 and close[t] <= close[hi_i] * (1 - move):
            out[last:hi_i] = 1 if state >= 0 else -1
            state, last, lo_i = -1, hi_i, t
        elif state <= 0 and close[t] >= close[lo_i] * (1 + move):
            out[last:lo_i] = -1 if state <= 0 else 1
            if state == 0:
                out[last:lo_i] = -1 if close[lo_i] < close[0] else 1
            state, last, hi_i = 1, lo_i, t
    out[last:] = state if state != 0 else 1
    return out


def realtime_phases(close: Array, move: float) -> Array:
    """The dating rule read as it goes, without hindsight: +1 from the day a close is ``move``
    above the lowest close since the last peak, −1 from the day one is ``move`` below the
    highest since the last trough, 0 before the first such day. The best any label reading
    only the closes so far can do is to know each day's phase as soon as this rule does."""
    log_close, threshold = np.log(close), -np.log1p(-move)
    out = np.zeros(len(close), dtype=np.int64)
    state, peak, trough = 0, -np.inf, np.inf
    for t, x in enumerate(log_close.tolist()):
        peak, trough = max(peak, x), min(trough, x)
        if state >= 0 and x <= peak - threshold:
            state, trough = -1, x
        elif state <= 0 and x >= trough + threshold:
            state, peak = 1, x
        out[t] = state
    return out


#: The moves at which ``report`` reads the dating rule in real time, for scale.
REALTIME_MOVES = (0.05, 0.075, 0.10, 0.125, 0.15, 0.20)


def realised_vol(close: Array, n: int = 21) -> Array:
    r = np.diff(np.log(close), prepend=np.nan)
    out = np.full(len(close), np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(r, n)
    out[n - 1:] = np.std(windows, axis=1, ddof=1) * np.sqrt(252)
    return out


def percentile_rank(x: Array) -> Array:
    ok = ~np.isnan(x)
    out = np.full(len(x), np.nan)
    out[ok] = (np.argsort(np.argsort(x[ok])) + 0.5) / ok.sum()
    return out


@dataclass
class Scored:
    """Per day of one series: labels, confidences and references."""

    symbol: str
    days: Array
    close: Array
    label: dict[str, Array]
    confidence: dict[str, Array]
    valid: dict[str, Array]
    volatility_1d: Array
    trend_1d: Array
    novelty: Array
    novelty_valid: Array
    phase: Array
    rv: Array
    rv_pct: Array
    calm_move: dict[str, Array]


def score(s: Series) -> Scored:
    cutoff_end = s.days + DAY
    label, conf, valid = {}, {}, {}
    vol_1d = trend_1d = np.empty(0)
    for tf in TIMEFRAMES:
        end, close, _ = s.buckets[tf]
        res = regime_at(end, close, cutoff_end, tf)
        label[tf] = np.array(res.label)
        conf[tf] = res.confidence
        valid[tf] = res.valid
        if tf == "1d":
            vol_1d, trend_1d = res.volatility, res.trend
    end, close, volume = s.buckets["1d"]
    nov = novelty.compute(at_cutoffs(end, close, cutoff_end),
                          at_cutoffs(end, volume, cutoff_end))
    rv = realised_vol(s.close)
    lp = np.log(s.close)
    calm_move = {}
    for tf, h in CALM_HORIZON.items():
        centred = np.full(len(lp), np.nan)
        centred[h:-h] = np.abs(lp[2 * h:] - lp[:-2 * h])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            calm_move[tf] = centred < np.nanmedian(centred)
    return Scored(s.symbol, s.days, s.close, label, conf, valid, vol_1d, trend_1d, nov.score, nov.valid,
                  phases(s.close), rv, percentile_rank(rv), calm_move)


#: The labels that count as reading a bear phase right.
BEAR_LABELS = ("trending_down", "volatile")


def largest_share(labels: Array) -> float:
    """The share of the most frequent label."""
    return max(float(np.mean(labels == name)) for name in regime.LABELS)


def phase_rates(labels: Array, phase: Array) -> tuple[float, float]:
    """Of the bull-phase days, the share read ``trending_up``; of the bear-phase days, the
    share read one of ``BEAR_LABELS`` (``nan`` where there is no such day)."""
    bull, bear = labels[phase == 1], labels[phase == -1]
    return (float(np.mean(bull == "trending_up")) if len(bull) else np.nan,
            float(np.mean(np.isin(bear, BEAR_LABELS))) if len(bear) else np.nan)


def terciles(confidence: Array) -> Array:
    """Each value's confidence tercile, 0 (bottom) to 2 (top), within ``confidence``."""
    return np.asarray(np.searchsorted(np.quantile(confidence, [1 / 3, 2 / 3]), confidence,
                                      side="right"))


def agreement(sc: Scored, tf: str) -> Array:
    lab = sc.label[tf]
    high_vol = sc.rv_pct >= 2 / 3
    return np.select(
        [lab == "trending_up", lab == "trending_down", lab == "volatile", lab == "ranging"],
        [sc.phase == 1, sc.phase == -1, high_vol, sc.calm_move[tf] & ~high_vol], False)


@dataclass
class Part:
    name: str
    parts: list[tuple[Scored, Array]]  # (series, day mask)
    novelty: bool = True  # False where the series have no volume (the second holdout)

    def rows(self, tf: str) -> Iterator[tuple[Scored, Array]]:
        for sc, mask in self.parts:
            yield sc, mask & sc.valid[tf]


def whole(sc: Scored) -> tuple[Scored, Array]:
    """A series with every day in the part."""
    return sc, np.ones(len(sc.days), dtype=bool)


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def _silent(*args: object, **kwargs: object) -> None:
    """``print`` for a report that is only counted."""


def report(part: Part, echo: bool = True) -> dict[str, float]:
    """Print ``part``'s figures (``echo``) and return the goals' ones."""
    say = print if echo else _silent
    say(f"\n== {part.name} ==")
    figures: dict[str, float] = {}
    days = sum(int(m.sum()) for _, m in part.parts)
    say(f"trading days: {days}")
    say("label shares      " + "  ".join(f"{lab:>13}" for lab in regime.LABELS) + "   largest")
    for tf in TIMEFRAMES:
        labels = np.concatenate([sc.label[tf][m] for sc, m in part.rows(tf)])
        shares = [float(np.mean(labels == lab)) for lab in regime.LABELS]
        figures[f"largest_{tf}"] = max(shares)
        say(f"  {tf:<4} ({len(labels):>5} d) " + "  ".join(f"{pct(x):>13}" for x in shares)
            + f"   {pct(max(shares))}")
    say("phases            bull: trending_up   bear: trending_down or volatile   (days)")
    for tf in TIMEFRAMES:
        bull_hits = bull_n = bear_hits = bear_n = 0
        for sc, m in part.rows(tf):
            lab = sc.label[tf]
            bull, bear = m & (sc.phase == 1), m & (sc.phase == -1)
            bull_n += int(bull.sum())
            bear_n += int(bear.sum())
            bull_hits += int(np.sum(lab[bull] == "trending_up"))
            bear_hits += int(np.sum(np.isin(lab[bear], BEAR_LABELS)))
        figures[f"bull_{tf}"] = bull_hits / max(bull_n, 1)
        figures[f"bear_{tf}"] = bear_hits / max(bear_n, 1)
        say(f"  {tf:<4}            {pct(figures[f'bull_{tf}'])} of {bull_n:>5}"
            f"        {pct(figures[f'bear_{tf}'])} of {bear_n:>5}")
    # Reported only (stop 19), for the team's choice of reference: the same labels against
    # the confirmed phases, a trader's reading of the same rule (a bear market from the day
    # the 20 % fall is complete until the 20 % rise is), not the dated ones. No constant is
    # chosen from it.
    read_now: dict[tuple[int, float], Array] = {}  # each series' real-time phases, by move

    def realtime(sc: Scored, move: float) -> Array:
        found = read_now.get((id(sc), move))
        if found is None:
            found = read_now[id(sc), move] = realtime_phases(sc.close, move)
        return found

    say("  against confirmed phases (the rule's 20 % read without hindsight), bull / bear:")
    for tf in TIMEFRAMES:
        labels = np.concatenate([sc.label[tf][m] for sc, m in part.rows(tf)])
        confirmed = np.concatenate([realtime(sc, PHASE_MOVE)[m] for sc, m in part.rows(tf)])
        bull, bear = phase_rates(labels, confirmed)
        figures[f"bull_confirmed_{tf}"], figures[f"bear_confirmed_{tf}"] = bull, bear
        say(f"  {tf:<4}            {pct(bull)} of {int(np.sum(confirmed == 1)):>5}"
            f"        {pct(bear)} of {int(np.sum(confirmed == -1)):>5}")
    # For scale: the dating rule itself, read day by day on daily closes, with no hindsight.
    # Its bear days read down measure what the 1M bear goal asks of any causal label.
    phase = np.concatenate([sc.phase[m] for sc, m in part.parts])
    reads = []
    for move in REALTIME_MOVES:
        now = np.concatenate([realtime(sc, move)[m] for sc, m in part.parts])
        # Read as labels, so that phase_rates counts them as it counts the model's.
        read = np.select([now == 1, now == -1], ["trending_up", "trending_down"], "ranging")
        reads.append((move, *phase_rates(read, phase)))
    figures["bear_realtime_best"] = float(np.nanmax([bear for _, _, bear in reads]))
    say("  the dating rule in real time (daily closes, no hindsight), bull read up / bear read"
        " down, by move:\n   " + "  ".join(f"{100 * move:g} %: {pct(bull).strip()} / "
                                          f"{pct(bear).strip()}" for move, bull, bear in reads))
    say("agreement by confidence tercile (within each timeframe)   bottom  middle  top")
    pooled: list[list[float]] = [[], [], []]
    for tf in TIMEFRAMES:
        conf = np.concatenate([sc.confidence[tf][m] for sc, m in part.rows(tf)])
        agree = np.concatenate([agreement(sc, tf)[m] for sc, m in part.rows(tf)])
        which = terciles(conf)
        rates = [float(np.mean(agree[which == k])) if np.any(which == k) else float("nan")
                 for k in range(3)]
        for k in range(3):
            pooled[k].extend(agree[which == k].tolist())
        say(f"  {tf:<4} overall {pct(float(np.mean(agree)))}"
            f"{'':>28}{pct(rates[0])} {pct(rates[1])} {pct(rates[2])}")
    tops = [float(np.mean(p)) for p in pooled]
    figures["tercile_gap"] = tops[2] - tops[0]
    say(f"  all timeframes{'':>37}{pct(tops[0])} {pct(tops[1])} {pct(tops[2])}"
        f"   top − bottom {100 * figures['tercile_gap']:+.1f} points")
    if part.novelty:
        scores = np.concatenate([sc.novelty[m & sc.novelty_valid] for sc, m in part.parts])
        figures["novelty_high"] = float(np.mean(scores >= 0.9))
        deciles = np.histogram(scores, bins=np.linspace(0, 1, 11))[0] / len(scores)
        say(f"novelty ≥ 0.9 on {pct(figures['novelty_high'])} of {len(scores)} days;"
            " share per tenth: " + " ".join(f"{100 * d:.0f}" for d in deciles))
    else:
        say("novelty: not judged (no volume)")
    with np.errstate(divide="ignore", invalid="ignore"):  # 21 unchanged closes: no ratio
        ratio = np.concatenate([(sc.volatility_1d / sc.rv)[m & sc.valid["1d"]]
                                for sc, m in part.parts])
    ratio = ratio[np.isfinite(ratio)]
    figures["vol_ratio"] = float(np.median(ratio))
    say(f"1d volatility / 21-day realised volatility × √252: median {figures['vol_ratio']:.3f}"
        f" (quartiles {np.quantile(ratio, 0.25):.3f}–{np.quantile(ratio, 0.75):.3f})")
    means = []
    for name in regime.LABELS:
        pcts = np.concatenate([sc.rv_pct[m & (sc.label["1d"] == name)] for sc, m in part.rows("1d")])
        means.append(f"{name} {np.nanmean(pcts):.2f}" if np.any(~np.isnan(pcts)) else f"{name} –")
    say("1d label vs realised-vol percentile (mean):  " + "  ".join(means))
    same = total = 0
    for sc, m in part.rows("1d"):
        weekday = ((sc.days // DAY) + 3) % 7  # 0 = Monday
        for t in np.flatnonzero(m & (weekday == 0))[1:]:
            if weekday[t - 1] == 4 and abs(np.log(sc.close[t] / sc.close[t - 1])) > 0.02:
                total += 1
                same += int(sc.volatility_1d[t] == sc.volatility_1d[t - 1]
                            and sc.trend_1d[t] == sc.trend_1d[t - 1])
    figures["monday_same"] = same / max(total, 1)
    say(f"Mondays that moved > 2 %: {total}, with the same 1d values as Friday: {same}")
    return figures


#: Moving-block bootstrap: blocks of half a year of sessions, resampled with replacement.
BOOT_BLOCK = 126
BOOT_DRAWS = 1000


def bootstrap(part: Part, draws: int = BOOT_DRAWS, block: int = BOOT_BLOCK,
              seed: int = 0) -> dict[str, tuple[float, float]]:
    """90 % intervals of the goals' figures over resampled half-years of ``part``'s days.

    Labels are strongly autocorrelated (a ``1M`` label holds for a month, a phase for
    years), so the days are resampled in consecutive blocks of ``block`` sessions (Künsch,
    1989, "The jackknife and the bootstrap for general stationary observations", *Annals
    of Statistics* 17): an interval says how far a figure could move on another sample of
    similar history, not that the model was tuned on it. Nothing here feeds a threshold."""
    rng = np.random.default_rng(seed)
    blocks: list[tuple[Scored, Array]] = []
    for sc, mask in part.parts:
        days = np.flatnonzero(mask)
        blocks += [(sc, days[i:i + block]) for i in range(0, len(days), block)]
    per_block = [{tf: (sc.label[tf][d][sc.valid[tf][d]], sc.phase[d][sc.valid[tf][d]],
                       sc.confidence[tf][d][sc.valid[tf][d]], agreement(sc, tf)[d][sc.valid[tf][d]])
                  for tf in TIMEFRAMES} for sc, d in blocks]
    figures: dict[str, list[float]] = {}
    for _ in range(draws):
        picks = rng.integers(0, len(blocks), len(blocks))
        agreeing, counted = [0.0, 0.0, 0.0], [0, 0, 0]
        for tf in TIMEFRAMES:
            label, phase, conf, agree = (np.concatenate([per_block[i][tf][k] for i in picks])
                                         for k in range(4))
            figures.setdefault(f"largest_{tf}", []).append(largest_share(label))
            if tf == "1M":  # a draw without bull (bear) days has no such figure (nan)
                bull_up, bear_down = phase_rates(label, phase)
                figures.setdefault("bull_1M", []).append(bull_up)
                figures.setdefault("bear_1M", []).append(bear_down)
            which = terciles(conf)
            for k in range(3):  # pooled over the timeframes, as ``report`` pools them
                agreeing[k] += float(agree[which == k].sum())
                counted[k] += int(np.sum(which == k))
        rates = [agreeing[k] / max(counted[k], 1) for k in range(3)]
        figures.setdefault("tercile_gap", []).append(rates[2] - rates[0])
    return {name: (float(np.nanquantile(v, 0.05)), float(np.nanquantile(v, 0.95)))
            for name, v in figures.items()}


def report_intervals(part: Part) -> None:
    intervals = bootstrap(part)
    print(f"90 % intervals ({BOOT_DRAWS} draws of {BOOT_BLOCK}-session blocks): "
          + "  ".join(f"{name} {100 * lo:.1f}–{100 * hi:.1f}"
                      for name, (lo, hi) in intervals.items()))


def report_stocks(scored: dict[str, Scored]) -> None:
    """One line per stock of a holdout: its goals' figures."""
    print("\n== per stock ==\n         largest 1d / 1w / 1M      bull 1M  bear 1M (days)  tercile gap"
          "  vol ratio")
    for sym, sc in scored.items():
        f = report(Part(sym, [whole(sc)], novelty=False), echo=False)
        bear_days = int(np.sum(sc.valid["1M"] & (sc.phase == -1)))
        print(f"  {sym:<5} " + " / ".join(pct(f[f"largest_{tf}"]) for tf in TIMEFRAMES)
              + f"   {pct(f['bull_1M'])}  {pct(f['bear_1M'])} ({bear_days:>5})"
              + f"  {100 * f['tercile_gap']:+6.1f}      {f['vol_ratio']:.3f}")


def check(ch: ClickHouse, settings: Settings, frames: dict[str, Any],
          scored: dict[str, Scored], n: int) -> None:
    """At ``n`` days, ``compute.compute`` on the bars up to that day must give the same labels."""
    sc = scored["SPX"]
    picks = np.linspace(WINDOW, len(sc.days) - 1, n).astype(int)
    bad = 0
    for t in picks.tolist():
        table = f"bars_check_{t}"
        ch.command(f"CREATE TABLE {table} AS {market.TABLE}")
        ch.command(f"INSERT INTO {table} SELECT * FROM {market.TABLE}"
                   f" WHERE ts <= toDateTime({int(sc.days[t])}, 'UTC')")
        # The evening of the day: its daily bar is finished, its week and month may not be.
        out = {o.symbol: o for o in compute(ch, settings, table=table,
                                            now=float(sc.days[t] + 21 * 3600)).outputs}
        ch.command(f"DROP TABLE {table}")
        for sym, s in scored.items():
            for tf in TIMEFRAMES:
                got = out[sym].regimes.get(tf, {}).get("regime") if sym in out else None
                want = s.label[tf][t] if s.valid[tf][t] else None
                bad += got != want
    print(f"\ncheck: compute.compute at {n} days × {len(scored)} indices × 3 timeframes:"
          f" {bad} labels differ from the per-day evaluation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=int, default=4,
                        help="days at which to rerun the writer's compute itself (0: none)")
    args = parser.parse_args()
    frames = load_history()
    holdout = load_holdout()
    second = load_second_holdout()
    every = frames | holdout | second
    tmp = Path(tempfile.mkdtemp(prefix="argus-eval-"))
    try:
        settings = Settings.from_env({}, data_dir=tmp)
        ch = clickhouse.connect(settings)
        insert(ch, every)
        scored = {sym: score(resampled(ch, sym, frame)) for sym, frame in every.items()}
        split = int(dt.datetime(SPLIT.year, SPLIT.month, SPLIT.day, tzinfo=dt.UTC).timestamp())
        spx = scored["SPX"]
        parts = [
            Part("tuning: S&P 500, 1999–2008", [(spx, spx.days < split)]),
            Part("out of sample: S&P 500 2009–2018 + NASDAQ 1999–2018",
                 [(spx, spx.days >= split), whole(scored["IXIC"])]),
            Part("out of sample: S&P 500, 2009–2018", [(spx, spx.days >= split)]),
            Part("out of sample: NASDAQ Composite, 1999–2018", [whole(scored["IXIC"])]),
            Part("first holdout (stop 16; tuning since stop 17): Microsoft 1986–2017"
                 " + Alphabet 2004–2013", [whole(scored[sym]) for sym in holdout]),
            Part("first holdout: Microsoft, 1986–2017", [whole(scored["MSFT"])]),
            Part("first holdout: Alphabet (GOOG), 2004–2013", [whole(scored["GOOG"])]),
            Part(f"second holdout (stop 17): {len(second)} S&P 500 stocks, 1990–2022",
                 [whole(scored[sym]) for sym in second], novelty=False),
        ]
        for part in parts:
            report(part)
            report_intervals(part)
        report_stocks({sym: scored[sym] for sym in second})
        report_monthly(load_monthly(), "tuning, 1M only: US market (Fama–French Mkt-RF) 1926–1998")
        report_monthly(load_bitcoin(), "fresh holdout, 1M only, crypto: Bitcoin 2012–2024")
        if args.check:
            # The check's days are the S&P's sessions, which the NASDAQ shares.
            check(ch, settings, frames, {sym: scored[sym] for sym in frames}, args.check)
        report_intraday(ch)  # after the check, whose copies of the bars table hold daily bars
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
