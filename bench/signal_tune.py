"""The regime model's tuning, rerunnable: ``python -m bench.signal_tune [--grid small|wide]``.

It reads **only the tuning part** of ``bench.signal_eval``: the S&P 500 before 2009; for
``1M``, the US market's months of 1926–1998 (``signal_eval.load_monthly``: 870 months, where
the S&P's decade has 120); and since stop 17 the first holdout's two stocks, Microsoft
1986–2017 and Alphabet 2004–2013 (``signal_eval.load_holdout``), whose figures stop 16
reported and whose diagnosis led to the ``1M`` threshold's cap. The out-of-sample parts and
the second holdout are never loaded, so nothing printed here can have been fitted to them.

The tuned constants of ``argus.writer.regime`` are per timeframe (``RANGE_EFFICIENCY_Z["1M"]``),
and a timeframe's labels depend on its own constants only. So each timeframe's settings are
scored once (the writer's ``regime.compute`` on every tuning day, exactly as the evaluation
does), and every combination of one setting per timeframe is judged from those scores. For a
combination it prints:

* each of the issue's goals as its margin in percentage points, on the whole tuning part and
  (suffix ``_late``) on its second half, 2004–2008, whose days are 78 % bull-phase days by
  the dating rule (the goals must hold in a stretch dominated by one long bull market too,
  not only over a decade with two bear markets):
  - ``share_<tf>``: 60 minus the largest label share of ``1d``, ``1w``, ``1M``;
  - ``bull``: ``1M`` bull days ``trending_up`` minus 60;
  - ``bear``: ``1M`` bear days ``trending_down`` or ``volatile`` minus 70;
  - ``tercile``: the top − bottom confidence tercile gap minus 15;
  (suffix ``_1926``) the ``1M`` share, bull and bear goals on the months of 1926–1998,
  whose long, slow bull markets (1949–56, 1982–87, 1990–98) the S&P's decade lacks; and
  (suffix ``_stocks``) every goal above on the two stocks pooled, more volatile than an index
  and more often in bear phases by the dating rule's fixed 20 %;
* the selection: **leximin** over those margins (the widest smallest margin; among equals
  the widest second-smallest, and so on: the combination that meets every goal by the widest
  margin, since the parts it is reported on will differ), then the labels' mean agreement
  with what happened (``signal_eval.agreement``), then the fewest constants changed, then the
  grid's order. ``--grid wide`` judges 14,515,200 combinations in about a quarter of an hour on two
  cores (a week's or month's days that read the same finished buckets are computed once,
  ``signal_eval.regime_at``).

The constants in ``argus/writer/regime.py`` are the selection of ``--grid wide``
(``docs/signals.md``, Evaluation).
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import itertools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from argus.settings import Settings
from argus.writer import clickhouse, regime
from bench import signal_eval as ev

#: The tuned constants (dicts of ``argus.writer.regime`` keyed by timeframe).
TUNED = ("RANGE_EFFICIENCY_Z", "RANGE_VARIANCE_RATIO", "RANGE_TREND", "DIRECTION_K",
         "DIRECTION_CAP", "BREAKOUT")
INF = float("inf")
#: Per grid and timeframe, the values each tuned constant tries (absent: kept as it is).
GRIDS: dict[str, dict[str, dict[str, tuple[float, ...]]]] = {
    "small": {  # around the current selection: a quick look
        "1d": {"RANGE_EFFICIENCY_Z": (0.7, 0.8, 0.9)},
        "1w": {"RANGE_EFFICIENCY_Z": (1.3, 1.5, 1.7)},
        "1M": {"RANGE_EFFICIENCY_Z": (2.0, 2.5, 3.0), "RANGE_VARIANCE_RATIO": (1.1, 1.2, INF),
               "BREAKOUT": (0.0, 1.0)},
    },
    "wide": {
        "1d": {"RANGE_EFFICIENCY_Z": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
               "RANGE_VARIANCE_RATIO": (1.0, 1.1, INF), "BREAKOUT": (0.0, 1.0)},
        "1w": {"RANGE_EFFICIENCY_Z": (0.9, 1.1, 1.3, 1.5, 1.7, 2.0, 2.5, 3.0),
               "RANGE_VARIANCE_RATIO": (1.0, 1.1, INF), "BREAKOUT": (0.0, 1.0)},
        "1M": {"RANGE_EFFICIENCY_Z": (1.3, 1.5, 2.0, 2.5, 3.0),
               "RANGE_VARIANCE_RATIO": (1.0, 1.1, 1.2, INF),
               "RANGE_TREND": (0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
               "DIRECTION_K": (0.6, 0.7, 0.8, 0.9, 1.0),
               "DIRECTION_CAP": (0.05, 0.075, 0.10, 0.125, 0.15, 0.20, INF),
               "BREAKOUT": (0.0, 1.0)},
    },
}
SECOND_HALF = dt.date(2004, 1, 1)


@dataclass(frozen=True)
class Goals:
    """One timeframe's labels over a stretch of days, reduced to what the goals need."""

    largest: float
    ranging: float
    agreement: float
    bull_up: float
    bear_down: float
    terciles: tuple[tuple[float, int], ...]  # (agreeing days, days) per confidence tercile

    @classmethod
    def of(cls, parts: list[tuple[ev.Scored, ev.Array]], tf: str) -> Goals:
        """Pooled over ``(series, rows)`` parts, as ``signal_eval.report`` pools them."""
        labels, agree, confidence, phase = (np.concatenate(x) for x in zip(*[
            (sc.label[tf][rows], ev.agreement(sc, tf)[rows], sc.confidence[tf][rows],
             sc.phase[rows]) for sc, rows in parts], strict=True))
        tercile = ev.terciles(confidence)
        return cls(ev.largest_share(labels), float(np.mean(labels == "ranging")),
                   float(np.mean(agree)), *ev.phase_rates(labels, phase),
                   tuple((float(agree[tercile == k].sum()), int(np.sum(tercile == k)))
                         for k in range(3)))


@dataclass(frozen=True)
class MonthlyGoals:
    """``1M``'s labels over the months of ``signal_eval.load_monthly``."""

    largest: float
    bull_up: float
    bear_down: float

    @classmethod
    def of(cls, monthly: ev.Monthly, phase: ev.Array) -> MonthlyGoals:
        labels, valid = ev.monthly_labels(monthly)
        return cls(ev.largest_share(labels[valid]), *ev.phase_rates(labels[valid], phase[valid]))


@dataclass(frozen=True)
class TimeframeScore:
    """One timeframe's labels under one setting: the S&P's tuning part and its second half,
    the tuning stocks (and for ``1M`` the months of 1926–1998)."""

    setting: dict[str, float]
    whole: Goals
    late: Goals
    stocks: Goals
    monthly: MonthlyGoals | None = None


def _timestamp(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


Scoring = tuple[ev.Series, ev.Scored]  # a series' buckets and its references, relabelled


def score_timeframe(index: Scoring, stock_series: list[Scoring], tf: str,
                    setting: dict[str, float], split: int, second_half: int,
                    monthly: tuple[ev.Monthly, ev.Array] | None = None) -> TimeframeScore:
    for name, value in setting.items():
        getattr(regime, name)[tf] = value
    for series, sc in [index, *stock_series]:
        end, close, _ = series.buckets[tf]
        res = ev.regime_at(end, close, series.days + ev.DAY, tf)
        sc.label[tf], sc.confidence[tf], sc.valid[tf] = np.array(res.label), res.confidence, res.valid
    spx = index[1]
    rows = (spx.days < split) & spx.valid[tf]
    return TimeframeScore(setting, Goals.of([(spx, rows)], tf),
                          Goals.of([(spx, rows & (spx.days >= second_half))], tf),
                          Goals.of([(sc, sc.valid[tf]) for _, sc in stock_series], tf),
                          MonthlyGoals.of(*monthly) if monthly and tf == "1M" else None)


def stretch_margins(goals: dict[str, Goals], suffix: str) -> dict[str, float]:
    top = [sum(g.terciles[k][0] for g in goals.values()) / sum(g.terciles[k][1] for g in goals.values())
           for k in (0, 2)]
    return {**{f"share_{tf}{suffix}": 100 * (0.60 - g.largest) for tf, g in goals.items()},
            f"bull{suffix}": 100 * (goals["1M"].bull_up - 0.60),
            f"bear{suffix}": 100 * (goals["1M"].bear_down - 0.70),
            f"tercile{suffix}": 100 * (top[1] - top[0] - 0.15)}


def margins(combo: dict[str, TimeframeScore]) -> dict[str, float]:
    """Each goal's margin, in percentage points (negative: missed), on the S&P's tuning part,
    (suffix ``_late``) on its second half, (suffix ``_stocks``) on the tuning stocks and
    (suffix ``_1926``) on the months of 1926–1998."""
    month = combo["1M"].monthly
    return {**stretch_margins({tf: s.whole for tf, s in combo.items()}, ""),
            **stretch_margins({tf: s.late for tf, s in combo.items()}, "_late"),
            **stretch_margins({tf: s.stocks for tf, s in combo.items()}, "_stocks"),
            **({"share_1M_1926": 100 * (0.60 - month.largest),
                "bull_1926": 100 * (month.bull_up - 0.60),
                "bear_1926": 100 * (month.bear_down - 0.70)} if month else {})}


def settings_of(grid: dict[str, tuple[float, ...]]) -> list[dict[str, float]]:
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="small")
    parser.add_argument("--top", type=int, default=10, help="combinations to print (best first)")
    args = parser.parse_args()
    grid = GRIDS[args.grid]
    current = {tf: {name: float(getattr(regime, name)[tf]) for name in grid[tf]} for tf in grid}
    # The tuning index and the tuning stocks only: the out-of-sample parts are never loaded.
    frames = {"SPX": ev.load_history()["SPX"], **ev.load_holdout()}
    split, second_half = _timestamp(ev.SPLIT), _timestamp(SECOND_HALF)
    tmp = Path(tempfile.mkdtemp(prefix="argus-tune-"))
    try:
        ch = clickhouse.connect(Settings.from_env({}, data_dir=tmp))
        ev.insert(ch, frames)
        # Each series with its references (phases, realised volatility, calm moves).
        scoring = [(series, ev.score(series))
                   for series in (ev.resampled(ch, sym, frame) for sym, frame in frames.items())]
        monthly = ev.load_monthly()
        months = (monthly, ev.phases(monthly.close))
        scores: dict[str, list[TimeframeScore]] = {
            tf: [score_timeframe(scoring[0], scoring[1:], tf, setting, split, second_half, months)
                 for setting in settings_of(grid.get(tf, {}))]
            for tf in ev.TIMEFRAMES}
    finally:
        for tf, setting in current.items():
            for name, value in setting.items():
                getattr(regime, name)[tf] = value
        shutil.rmtree(tmp, ignore_errors=True)

    Ranked = tuple[tuple[float, ...], float, int, dict[str, TimeframeScore]]

    def ranked(picks: tuple[TimeframeScore, ...]) -> Ranked:
        combo = dict(zip(scores, picks, strict=True))
        agreement = float(np.mean([s.whole.agreement for s in picks]))
        changed = sum(s.setting[k] != current[tf][k] for tf, s in combo.items() for k in s.setting)
        leximin = tuple(round(m, 6) for m in sorted(margins(combo).values()))
        return leximin, agreement, -changed, combo

    def key(r: Ranked) -> tuple[tuple[float, ...], float, int]:
        return r[0], round(r[1], 6), r[2]

    total = int(np.prod([len(v) for v in scores.values()]))
    # heapq.nlargest is sorted(..., reverse=True)[:n], ties in the grid's order, without
    # holding millions of combinations.
    best = heapq.nlargest(args.top, map(ranked, itertools.product(*scores.values())), key=key)
    # The current constants, where the grid holds them.
    picks = [next((s for s in scores[tf] if s.setting == current.get(tf, {})), None)
             for tf in scores]
    now = ranked(tuple(p for p in picks if p)) if all(picks) else None
    print(f"tuning part: S&P 500 before {ev.SPLIT}, the US market's months of 1926–1998, "
          f"{', '.join(list(frames)[1:])}; {total} combinations of "
          + "; ".join(f"{tf} {', '.join(g)}" for tf, g in grid.items()))
    shown = best + ([now] if now and not any(r[3] == now[3] for r in best) else [])
    for leximin, agreement, _, combo in shown:
        mark = " (current)" if now and combo == now[3] else ""
        stocks = combo["1M"].stocks
        print(f"smallest margin {leximin[0]:+.1f} points  agreement {100 * agreement:.2f}%{mark}\n    "
              + "  ".join(f"{tf}: " + " ".join(f"{k}={v:g}" for k, v in s.setting.items())
                          for tf, s in combo.items())
              + "\n    largest " + " / ".join(f"{100 * s.whole.largest:.1f}" for s in combo.values())
              + "   2004–08 " + " / ".join(f"{100 * s.late.largest:.1f}" for s in combo.values())
              + "   ranging " + " / ".join(f"{100 * s.whole.ranging:.1f}" for s in combo.values())
              + f"   bull 1M {100 * combo['1M'].whole.bull_up:.1f} (2004–08 {100 * combo['1M'].late.bull_up:.1f})"
              + f"  bear 1M {100 * combo['1M'].whole.bear_down:.1f} (2004–08 {100 * combo['1M'].late.bear_down:.1f})"
              + "\n    stocks: largest " + " / ".join(f"{100 * s.stocks.largest:.1f}" for s in combo.values())
              + f"  bull 1M {100 * stocks.bull_up:.1f}  bear 1M {100 * stocks.bear_down:.1f}"
              + (f"\n    1926–98 months: largest {100 * m.largest:.1f}  bull {100 * m.bull_up:.1f}"
                 f"  bear {100 * m.bear_down:.1f}" if (m := combo["1M"].monthly) else "")
              + "\n    margins " + " ".join(f"{k} {v:+.1f}" for k, v in margins(combo).items()))


if __name__ == "__main__":
    main()
