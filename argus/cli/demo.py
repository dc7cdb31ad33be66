"""``argus demo``: the whole pipeline embedded, no servers needed.

1. generates a few hundred synthetic symbols into a temporary embedded chDB;
2. computes regime, novelty and correlations;
3. writes them into an in-process Redis (fakeredis, with Lua via ``lupa``);
4. serves the API with GraphiQL and the dashboard on ``host:port``;
5. prints the URLs and two example queries;
6. every ``tick`` seconds, adds a minute to the market (``market.extend``: one more
   1-minute bar per symbol), computes and writes again, as ``argus write`` does with new
   bars: the labels that change reach subscriptions and the dashboard.

The writer uses a synchronous fakeredis client and the API an asynchronous one on the same
``FakeServer``, so both see one keyspace; the ticks run on a thread of their own.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from argus.settings import Settings

if TYPE_CHECKING:
    from fakeredis import FakeServer

    from argus.writer.clickhouse import ClickHouse

log = logging.getLogger("argus.demo")
SEED = 42

EXAMPLES = (
    """{
  symbol(symbol: "BTC") {
    symbol
    regime(timeframes: [H1, D1]) { timeframe label confidence volatility trend stale }
    novelty { score zscore percentile }
    correlations(first: 5) { partner { symbol } coefficient }
  }
}""",
    """{
  symbols(symbols: ["ETH-USD", "AAPL", "NVDA"]) {
    symbol
    regime { timeframe label }
  }
}""",
)


def prepare(settings: Settings, symbols: int,
            seed: int = SEED) -> tuple[ClickHouse, FakeServer, int]:
    """Generate, compute and write into a new fakeredis server; return the bars' chDB, the
    server and the key count."""
    import fakeredis

    from argus.writer import clickhouse, market

    ch = clickhouse.connect(settings)
    market.generate(ch, settings, symbols, None, seed)
    server = fakeredis.FakeServer()
    return ch, server, refresh(ch, settings, server)


def refresh(ch: ClickHouse, settings: Settings, server: FakeServer) -> int:
    """Compute every signal from the bars and write them (the keys written)."""
    import fakeredis

    from argus.writer.compute import compute
    from argus.writer.redis_writer import RedisWriter

    sync = fakeredis.FakeRedis(server=server)
    try:
        return RedisWriter(sync, settings).write(compute(ch, settings).outputs).keys
    finally:
        sync.close()


def tick_forever(ch: ClickHouse, settings: Settings, server: FakeServer, every: float,
                 stop: threading.Event, seed: int = SEED) -> None:
    """Until ``stop``: every ``every`` seconds, one more minute of bars, computed and written."""
    from argus.writer import market

    tick = 0
    while not stop.wait(every):
        try:
            market.extend(ch, tick, seed)
            refresh(ch, settings, server)
        except Exception:  # a demo's tick must not take the API down with it
            log.exception("demo tick %d failed", tick)
        tick += 1


def run(host: str = "127.0.0.1", port: int = 8000, symbols: int = 300,
        tick: float = 5.0) -> None:
    import fakeredis
    import uvicorn

    from argus.http.app import create_app

    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="argus-demo-"))
    stop = threading.Event()
    try:
        settings = Settings.from_env(None, data_dir=workdir, host=host, port=port)
        with console.status(f"generating and computing {symbols} symbols (embedded chDB)"):
            ch, server, written = prepare(settings, symbols)
        client = fakeredis.FakeAsyncRedis(server=server)
        # The events reader too reads the in-process server, never settings.redis_url.
        app = create_app(settings, redis_client=client,
                         reader_client=lambda: fakeredis.FakeAsyncRedis(server=server))
        url = f"http://{host}:{port}"
        console.print(f"[bold]Argus demo[/bold]: {symbols} symbols, {written:,} keys in an "
                      f"in-process Redis.\nGraphiQL: {url}/graphql\nDashboard: {url}/dashboard\n")
        if tick > 0:
            console.print(f"Live: a minute more of bars every {tick:g} s, computed and written; "
                          "changed labels reach subscriptions and the dashboard.\n")
            threading.Thread(target=tick_forever, args=(ch, settings, server, tick, stop),
                             name="argus-demo-ticks", daemon=True).start()
        for i, query in enumerate(EXAMPLES, 1):
            console.print(f"Example query {i}:\n{query}\n", highlight=False)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()
        shutil.rmtree(workdir, ignore_errors=True)
