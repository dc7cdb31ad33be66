"""The writer's commands, registered by ``argus.cli``: ``data``, ``ttl``, ``write`` and ``demo``.

This module is imported by the top-level CLI, so it must stay light: chDB, numpy and
pyarrow are imported inside the commands, never at module level (``argus serve`` must not
load them). Every command catches ``ArgusError`` and exits 1 with ``error: <message>``.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from argus.cli.common import fail, load_settings
from argus.errors import ArgusError, ServiceUnavailable
from argus.settings import Settings

data_app = typer.Typer(help="Market data in ClickHouse (chDB under ARGUS_DATA_DIR, or "
                       "ARGUS_CLICKHOUSE_URL).", no_args_is_help=True)
ttl_app = typer.Typer(help="Find and fix contract keys without a TTL.", no_args_is_help=True)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """``60``, ``60s``, ``5m``, ``1h``, ``500ms`` → seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ArgusError(f"bad duration {text!r} (e.g. 60s, 5m, 1h)")
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * factor


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except ArgusError as exc:
        raise fail(exc.message) from exc
    except ValueError as exc:
        raise fail(str(exc)) from exc


def _unavailable(settings: Settings) -> Callable[[ServiceUnavailable], ArgusError]:
    return lambda exc: ArgusError(f"Redis at {settings.redis_url} is unreachable")


@data_app.command("generate")
def generate(
    symbols: Annotated[int, typer.Option("--symbols", help="Number of symbols.")] = 200,
    bars: Annotated[int | None, typer.Option(
        "--bars", help="Bars per symbol (all sizes); default: the least that gives every "
        "timeframe the buckets its regime needs.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same data.")] = 42,
) -> None:
    """Generate synthetic OHLCV bars inside ClickHouse (replaces those symbols' bars)."""
    with _user_errors():
        from rich.console import Console

        from argus.writer import clickhouse, market

        settings = load_settings()
        console = Console(stderr=True)
        start = time.perf_counter()
        bars = market.default_bars() if bars is None else bars
        with console.status(f"generating {symbols:,} symbols × {bars:,} bars"):
            rows = market.generate(clickhouse.connect(settings), settings, symbols, bars, seed)
        typer.echo(f"generated {rows:,} bars for {symbols:,} symbols in "
                   f"{time.perf_counter() - start:.1f} s")


@data_app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file with columns symbol, ts, "
                                         "open, high, low, close, volume [, asset_class].")],
    bar_size: Annotated[str | None, typer.Option(
        "--bar-size", help="Every bar's size (1d, 1h, 60s, 1w, 1M…); default: the dominant "
        "spacing of each symbol's series, stored bars included.")] = None,
    ts_unit: Annotated[str, typer.Option(
        "--ts-unit", help="Unit of numeric timestamps: s, ms, us or ns.")] = "s",
    asset_class: Annotated[str | None, typer.Option(
        "--asset-class", help="equity or crypto: how to read the symbols of rows without an "
        "asset_class cell (default: the crypto asset list decides).")] = None,
) -> None:
    """Load your own bars; a bad row is reported by line and nothing is loaded."""
    with _user_errors():
        from rich.console import Console

        from argus.writer import clickhouse, importer

        options = importer.Options(
            bar_size=importer.parse_bar_size(bar_size) if bar_size is not None else None,
            ts_unit=ts_unit, asset_class=asset_class.lower() if asset_class else None)
        settings = load_settings()
        start = time.perf_counter()
        notes: list[str] = []
        with Console(stderr=True).status(f"importing {path}"):
            rows = importer.import_file(clickhouse.connect(settings), settings, path,
                                        options=options, warn=notes.append)
        for note in notes:
            typer.echo(f"warning: {note}", err=True)
        typer.echo(f"imported {rows:,} bars from {path} in {time.perf_counter() - start:.1f} s")


def write(
    once: Annotated[bool, typer.Option("--once", help="One refresh, then exit (default).")
                    ] = False,
    every: Annotated[str | None, typer.Option("--every", help="Refresh continuously, e.g. 60s."
                                              )] = None,
    symbols: Annotated[str | None, typer.Option("--symbols", help="Comma-separated symbols to "
                                                "write (any form); default all.")] = None,
) -> None:
    """Compute regime, novelty and correlations from ClickHouse and write them to Redis."""
    with _user_errors():
        from argus.symbols import Normalizer
        from argus.writer import redis_writer
        from argus.writer.run import refresh

        if once and every:
            raise ArgusError("use either --once or --every, not both")
        interval = parse_duration(every) if every else None
        settings = load_settings()
        only = None
        if symbols:
            from argus.symbols import Universe
            from argus.writer import clickhouse, importer

            # Read --symbols as the API will: with the asset classes imports were given.
            classes = importer.asset_classes(clickhouse.connect(settings))
            normalizer = Normalizer.from_settings(settings, Universe.from_mapping(classes))
            only = [normalizer.normalize(s) for s in symbols.split(",") if s.strip()]
        client = redis_writer.connect(settings)
        if interval is None:
            summary = _refresh_once(settings, client, only, refresh)
            typer.echo(summary.line())
            return
        with _stop_signals() as stop:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    summary = refresh(settings, client, only=only, stop=stop.is_set)
                    # stdout has one line per whole refresh; one a signal cut short is noted
                    # on stderr (its batches are whole all the same).
                    typer.echo(summary.line(), err=summary.stopped)
                except ServiceUnavailable:
                    # A Redis blip must not kill the continuous writer: report, retry next tick.
                    typer.echo(f"error: Redis at {settings.redis_url} is unreachable; retrying",
                               err=True)
                stop.wait(max(0.0, interval - (time.monotonic() - started)))
        # Signals only set the flag, which the refresh asks between batches: every batch it
        # began was written and published, and nothing is left halfway.
        typer.echo("interrupted", err=True)
        raise typer.Exit(128 + stop.signum)


def _refresh_once(settings: Settings, client: Any, only: list[str] | None,
                  refresh: Callable[..., Any]) -> Any:
    try:
        return refresh(settings, client, only=only)
    except ServiceUnavailable as exc:
        raise _unavailable(settings)(exc) from exc


class _Stop(threading.Event):
    signum = signal.SIGINT


@contextmanager
def _stop_signals() -> Iterator[_Stop]:
    """SIGINT and SIGTERM ask the loop to stop: during a refresh's compute, before it writes;
    while it writes, after the batch under way (``ARGUS_WRITE_BATCH`` symbols); else at once.

    Our own handlers, because a shell starts background jobs with SIGINT ignored, and Python
    then installs no KeyboardInterrupt handler: ``argus write --every ... &`` kept writing.
    A flag rather than an exception, so a signal never lands halfway through a batch.
    """
    stop = _Stop()

    def handler(signum: int, frame: object) -> None:
        stop.signum = signal.Signals(signum)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@ttl_app.command("audit")
def ttl_audit() -> None:
    """Count contract keys without a TTL; exit 1 when there are some."""
    with _user_errors():
        from argus.writer import redis_writer, ttl

        settings = load_settings()
        try:
            counts = ttl.audit(redis_writer.connect(settings))
        except ServiceUnavailable as exc:
            raise _unavailable(settings)(exc) from exc
        total = sum(counts.values())
        for pattern, count in counts.items():
            typer.echo(f"{pattern:<16} {count:>10,} without TTL")
        typer.echo(f"total            {total:>10,} without TTL")
    if total:
        raise typer.Exit(1)


@ttl_app.command("fix")
def ttl_fix(
    ttl_seconds: Annotated[int | None, typer.Option("--ttl", help="TTL for keys that have none "
                                                    "(default ARGUS_TTL).")] = None,
) -> None:
    """Give every TTL-less contract key a TTL (EXPIRE NX), then verify none is left."""
    with _user_errors():
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from argus.writer import redis_writer, ttl

        settings = load_settings()
        seconds = ttl_seconds if ttl_seconds is not None else settings.ttl
        if seconds <= 0:
            raise ArgusError("--ttl must be a positive number of seconds")
        start = time.perf_counter()
        with Progress(SpinnerColumn(), TextColumn("scanned {task.completed:,.0f} keys"),
                      TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("fix", total=None)
            try:
                report = ttl.fix(redis_writer.connect(settings), seconds,
                                 lambda n: bar.advance(task, n))
            except ServiceUnavailable as exc:
                raise _unavailable(settings)(exc) from exc
        typer.echo(f"scanned {report.scanned:,} keys, gave {report.fixed:,} a TTL of "
                   f"{seconds} s in {time.perf_counter() - start:.1f} s")
        typer.echo(f"verification: {report.remaining:,} keys without TTL remain")
    if report.remaining:
        raise typer.Exit(1)


def demo(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    symbols: Annotated[int, typer.Option(help="Synthetic symbols to generate.")] = 300,
    tick: Annotated[float, typer.Option(
        help="Seconds between live ticks (a minute more of bars, computed and written); 0: none.",
        min=0.0)] = 5.0,
) -> None:
    """Everything embedded: synthetic data, computed intelligence, the API with GraphiQL
    and the dashboard, live."""
    with _user_errors():
        from argus.cli.demo import run

        run(host=host, port=port, symbols=symbols, tick=tick)
