"""One refresh: compute every signal from ClickHouse and write it to Redis, with progress.

``refresh`` is what ``argus write --once`` runs; ``argus write --every`` calls it in a loop.
A rich progress bar shows the phase and, while writing, symbols per second; the summary
gives symbols, keys and seconds.

``stop`` (asked between compute phases and between write batches) ends a refresh early:
during compute, before anything is written; while writing, after the batch under way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from argus.data.store import SyncClient
from argus.errors import DataSourceError
from argus.settings import Settings
from argus.writer import clickhouse
from argus.writer.compute import compute
from argus.writer.importer import asset_classes
from argus.writer.market import TABLE, migrate
from argus.writer.redis_writer import RedisWriter


@dataclass(frozen=True, slots=True)
class Summary:
    symbols: int
    keys: int
    changes: int
    seconds: float
    compute_seconds: float
    write_seconds: float
    stopped: bool = False

    def line(self) -> str:
        prefix = "stopped: " if self.stopped else ""
        return (f"{prefix}wrote {self.symbols:,} symbols, {self.keys:,} keys, {self.changes:,} label "
                f"changes in {self.seconds:.1f} s (compute {self.compute_seconds:.1f} s, "
                f"write {self.write_seconds:.1f} s)")


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                    console=console, transient=True)


class _Stopped(Exception):
    """Raised from the compute progress callback on a stop request (compute writes nothing,
    so abandoning it is safe); caught in ``refresh``, never seen outside this module."""


def refresh(settings: Settings, client: SyncClient, *, only: Sequence[str] | None = None,
            table: str = TABLE, console: Console | None = None,
            stop: Callable[[], bool] | None = None) -> Summary:
    console = console or Console(stderr=True)
    stopping = stop or (lambda: False)
    start = time.perf_counter()
    ch = clickhouse.connect(settings)
    if not ch.scalar(f"EXISTS TABLE {table}") or not ch.scalar(f"SELECT count() > 0 FROM {table}"):
        raise DataSourceError(f"no bars in ClickHouse ({ch.where}): run `argus data generate` "
                              "or `argus data import PATH` first")
    migrate(ch, table)
    # The asset class an import was told (``--asset-class``) is what argus:symbols records,
    # so the API reads STX as the equity too (clarifications §14).
    kinds = asset_classes(ch, table)
    with progress_bar(console) as bar:
        task = bar.add_task("computing", total=None, rate="")

        def phase(what: str) -> None:
            if stopping():
                raise _Stopped
            bar.update(task, description=what)

        try:
            computed = compute(ch, settings, table=table, only=only, progress=phase)
        except _Stopped:
            computed = None
        compute_done = time.perf_counter()
        if computed is None or stopping():  # a stop during compute: nothing is written
            return Summary(0, 0, 0, compute_done - start, compute_done - start, 0.0, stopped=True)
        outputs = computed.outputs
        bar.update(task, description="writing", total=len(outputs), completed=0)

        def advance(n: int) -> None:
            bar.advance(task, n)
            elapsed = max(time.perf_counter() - compute_done, 1e-9)
            done = bar.tasks[0].completed
            bar.update(task, rate=f"{done / elapsed:,.0f} symbols/s")

        report = RedisWriter(client, settings, kinds).write(outputs, advance, stopping)
    end = time.perf_counter()
    return Summary(report.symbols, report.keys, len(report.changes), end - start,
                   compute_done - start, end - compute_done, report.stopped)
