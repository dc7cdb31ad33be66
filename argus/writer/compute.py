"""From bars to what the writer stores: one ``SymbolOutput`` per symbol.

Each timeframe is resampled once (ClickHouse) and turned into a panel; regime runs on every
timeframe's panel. Novelty and correlations run on the *base timeframe*: the one with the
most buckets in the window across the universe (the finer one on ties), so both use as much
history as the data has, whatever its bar sizes. Values are formatted here, once, into the
strings the keyspace contract stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from argus import keys, symbols
from argus.data.namespaces import regime as regime_namespace
from argus.settings import Settings
from argus.writer import correlations, novelty, regime, resample
from argus.writer.clickhouse import ClickHouse
from argus.writer.market import TABLE


@dataclass(slots=True)
class SymbolOutput:
    symbol: str
    regimes: dict[str, dict[str, str]] = field(default_factory=dict)  # tf → hash fields
    novelty: str | None = None  # JSON
    correlations: dict[str, str] = field(default_factory=dict)  # partner → JSON

    @property
    def key_count(self) -> int:
        return len(self.regimes) + (self.novelty is not None) + len(self.correlations)


@dataclass(slots=True)
class Computed:
    outputs: list[SymbolOutput]
    base_timeframe: str | None
    seconds: dict[str, float] = field(default_factory=dict)


#: The regime hash's numeric fields (``data/namespaces/regime.FIELDS``): ``regime.compute``
#: returns an array of each name; the label, the time and the model are set here.
MEASURED = tuple(f.name for f in regime_namespace.FIELDS if f.kind == "number")


def _num(x: float) -> str:
    return f"{x:.6g}"


def compute(ch: ClickHouse, settings: Settings, *, table: str = TABLE,
            only: Sequence[str] | None = None, now: float | None = None,
            progress: Callable[[str], None] | None = None) -> Computed:
    """Every signal for every symbol in ``table`` (written: only ``only``, when given)."""
    computed_at = f"{now if now is not None else time.time():.3f}"
    window = settings.signal_window
    seconds = {"resample": 0.0, "regime": 0.0, "novelty": 0.0, "correlations": 0.0}
    by_symbol: dict[str, SymbolOutput] = {}
    best: tuple[int, str] | None = None
    crypto_of: dict[str, bool] = {}
    raw_data: pa.Table | None = None
    raw_panel: resample.Panel | None = None
    for tf in keys.TIMEFRAMES:
        if progress:
            progress(f"resampling {tf}")
        t0 = time.perf_counter()
        data = ch.arrow(resample.query(tf, table, now=float(computed_at), ordered=False))
        panel = resample.build(data, tf, window)
        t1 = time.perf_counter()
        seconds["resample"] += t1 - t0
        crypto = np.array([crypto_of[s] if s in crypto_of
                           else crypto_of.setdefault(s, symbols.is_crypto_pair(s))
                           for s in panel.symbols], dtype=bool)
        res = regime.compute(panel.close, tf, crypto)
        # Each numeric field the namespace declares is the computation's array of that name.
        columns = [(name, getattr(res, name)) for name in MEASURED]
        for i in np.flatnonzero(res.valid).tolist():
            sym = panel.symbols[i]
            out = by_symbol.setdefault(sym, SymbolOutput(sym))
            stored = {"regime": res.label[i]}
            for name, column in columns:
                stored[name] = _num(column[i])
            stored["computed_at"] = computed_at
            stored["model"] = regime.MODEL
            out.regimes[tf] = stored
        seconds["regime"] += time.perf_counter() - t1
        size = int(np.minimum(panel.counts, window).sum())
        if size and (best is None or size > best[0]):
            best = (size, tf)
            raw_data, raw_panel = data, panel
    base = best[1] if best else None
    if base is not None and raw_panel is not None:
        panel = raw_panel
        if progress:
            progress(f"novelty on {base}")
        t0 = time.perf_counter()
        nov = novelty.compute(panel.close, panel.volume)
        for i in np.flatnonzero(nov.valid).tolist():
            sym = panel.symbols[i]
            out = by_symbol.setdefault(sym, SymbolOutput(sym))
            out.novelty = (f'{{"score":{_num(nov.score[i])},"zscore":{_num(nov.zscore[i])},'
                           f'"percentile":{_num(nov.percentile[i])},"window":{int(nov.window[i])},'
                           f'"computed_at":{computed_at}}}')
        t1 = time.perf_counter()
        seconds["novelty"] = t1 - t0
        if progress:
            progress(f"correlations on {base}")
        aligned = resample.build(raw_data, base, window, aligned=True)
        k = settings.correlation_top_k
        top = correlations.compute(resample.log_returns(aligned.close), k)
        kept = correlations.both_directions(top, k)
        for i, partners in enumerate(kept):
            if not partners:
                continue
            sym = aligned.symbols[i]
            out = by_symbol.setdefault(sym, SymbolOutput(sym))
            for j, c in partners.items():
                w = int(min(top.window[i], top.window[j]))
                out.correlations[aligned.symbols[j]] = (
                    f'{{"coefficient":{c:.4f},"window":{w},"computed_at":{computed_at}}}')
        seconds["correlations"] = time.perf_counter() - t1
    outputs = sorted(by_symbol.values(), key=lambda o: o.symbol)
    if only is not None:
        wanted = set(only)
        outputs = [o for o in outputs if o.symbol in wanted]
    return Computed(outputs, base, seconds)
