"""The regime model's tuning, rerunnable: ``python -m bench.signal_tune [--grid small|wide]``.

It reads **only the tuning part** of ``bench.signal_eval`` (the S&P 500 before 2009): the
out-of-sample parts are never loaded, so nothing printed here can have been fitted to them.
For every combination of the grid it sets the model's constants (``argus.writer.regime``),
labels every tuning day exactly as the evaluation does, and prints:

* each of the issue's goals as its margin on the tuning part, in percentage points: 60 minus
  the largest label share on ``1d``, ``1w`` and ``1M``; ``1M`` bull days ``trending_up``
  minus 60; ``1M`` bear days ``trending_down`` or ``volatile`` minus 70; the top − bottom
  confidence tercile gap minus 15;
* the selection score: the **smallest** of those margins (maximin: the combination that
  meets every goal by the widest margin, since the parts it is reported on will differ),
  ties broken by the labels' mean agreement with what happened (``signal_eval.agreement``).

Ties go to the combination that changes fewest constants. The constants in
``argus/writer/regime.py`` are the selection of ``--grid wide`` (``docs/signals.md``,
Evaluation); it tries 270 combinations in about six and a half minutes on two cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from argus.settings import Settings
from argus.writer import clickhouse, regime
from bench import signal_eval as ev

#: Each tuned constant of ``argus.writer.regime`` and the values each grid tries.
GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "small": {  # around the current selection: a quick look
        "RANGE_EFFICIENCY_Z": (0.8, 0.9, 1.0),
        "RANGE_VARIANCE_RATIO": (1.0, 1.1),
    },
    "wide": {
        "RANGE_EFFICIENCY_Z": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
        "RANGE_VARIANCE_RATIO": (1.0, 1.1, float("inf")),
        "DIRECTION_K": (0.8, 1.0, 1.2),
        "DIRECTION_K_1M": (0.8, 0.9, 1.0, 1.1, 1.2),
    },
}


def tuning_metrics(series: ev.Series, split: int) -> dict[str, float]:
    sc = ev.score(series)
    tuning = sc.days < split
    out: dict[str, float] = {}
    pooled: list[list[float]] = [[], [], []]
    for tf in ev.TIMEFRAMES:
        rows = tuning & sc.valid[tf]
        labels = sc.label[tf][rows]
        agree = ev.agreement(sc, tf)[rows]
        out[f"largest_{tf}"] = max(float(np.mean(labels == name)) for name in regime.LABELS)
        out[f"ranging_{tf}"] = float(np.mean(labels == "ranging"))
        out[f"agree_{tf}"] = float(np.mean(agree))
        bull, bear = rows & (sc.phase == 1), rows & (sc.phase == -1)
        out[f"bull_{tf}"] = float(np.mean(sc.label[tf][bull] == "trending_up"))
        out[f"bear_{tf}"] = float(np.mean(np.isin(sc.label[tf][bear], ["trending_down", "volatile"])))
        confidence = sc.confidence[tf][rows]
        tercile = np.searchsorted(np.quantile(confidence, [1 / 3, 2 / 3]), confidence, side="right")
        for k in range(3):
            pooled[k].extend(agree[tercile == k].tolist())
    out["tercile_gap"] = float(np.mean(pooled[2]) - np.mean(pooled[0]))
    return out


def margins(m: dict[str, float]) -> dict[str, float]:
    """Each goal's margin on the tuning part, in percentage points (negative: missed)."""
    return {"share": 100 * (0.60 - max(m[f"largest_{tf}"] for tf in ev.TIMEFRAMES)),
            "bull": 100 * (m["bull_1M"] - 0.60), "bear": 100 * (m["bear_1M"] - 0.70),
            "tercile": 100 * (m["tercile_gap"] - 0.15)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="small")
    parser.add_argument("--top", type=int, default=10, help="combinations to print (best first)")
    args = parser.parse_args()
    grid = GRIDS[args.grid]
    current = {name: float(getattr(regime, name)) for name in grid}
    frames = {"SPX": ev.load_history()["SPX"]}  # the tuning index only
    split = int(dt.datetime(ev.SPLIT.year, ev.SPLIT.month, ev.SPLIT.day, tzinfo=dt.UTC).timestamp())
    tmp = Path(tempfile.mkdtemp(prefix="argus-tune-"))
    try:
        ch = clickhouse.connect(Settings.from_env({}, data_dir=tmp))
        ev.insert(ch, frames)
        series = ev.resampled(ch, "SPX", frames["SPX"])
        results = []
        for values in itertools.product(*grid.values()):
            chosen = dict(zip(grid, values, strict=True))
            for name, value in chosen.items():
                setattr(regime, name, value)
            m = tuning_metrics(series, split)
            agreement = float(np.mean([m[f"agree_{tf}"] for tf in ev.TIMEFRAMES]))
            changed = sum(chosen[k] != current[k] for k in grid)
            results.append((min(margins(m).values()), agreement, -changed, chosen, m))
    finally:
        for name, value in current.items():
            setattr(regime, name, value)
        shutil.rmtree(tmp, ignore_errors=True)
    # Best first: the widest smallest margin, then agreement, then the fewest changes from
    # the current constants (a constant that binds nowhere keeps its value).
    results.sort(key=lambda r: (round(r[0], 6), round(r[1], 6), r[2]), reverse=True)
    print(f"tuning part: S&P 500 before {ev.SPLIT}; {len(results)} combinations of {', '.join(grid)}")
    for worst, agreement, _, chosen, m in results[:args.top] + [r for r in results if r[3] == current]:
        mark = " (current)" if chosen == current else ""
        print(f"smallest margin {worst:+.1f} points  agreement {100 * agreement:.2f}%  "
              + " ".join(f"{k}={v:g}" for k, v in chosen.items()) + mark
              + "\n    largest " + " / ".join(f"{100 * m[f'largest_{tf}']:.1f}" for tf in ev.TIMEFRAMES)
              + "   ranging " + " / ".join(f"{100 * m[f'ranging_{tf}']:.1f}" for tf in ev.TIMEFRAMES)
              + f"   bull 1M {100 * m['bull_1M']:.1f}  bear 1M {100 * m['bear_1M']:.1f}"
              + f"  tercile gap {100 * m['tercile_gap']:+.1f}"
              + "\n    margins " + " ".join(f"{k} {v:+.1f}" for k, v in margins(m).items()))


if __name__ == "__main__":
    main()
