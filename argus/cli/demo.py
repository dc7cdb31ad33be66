"""``argus demo``: the whole pipeline embedded, no servers needed.

1. generates a few hundred synthetic symbols into a temporary embedded chDB;
2. computes regime, novelty and correlations;
3. writes them into an in-process Redis (fakeredis, with Lua via ``lupa``);
4. serves the API with GraphiQL and the dashboard on ``host:port``;
5. prints the URLs and two example queries.

The writer uses a synchronous fakeredis client and the API an asynchronous one on the same
``FakeServer``, so both see one keyspace.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from argus.settings import Settings

if TYPE_CHECKING:
    from fakeredis import FakeServer

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


def prepare(settings: Settings, symbols: int, seed: int = 42) -> tuple[FakeServer, int]:
    """Generate, compute and write into a new fakeredis server; return it and the key count."""
    import fakeredis

    from argus.writer import clickhouse, market
    from argus.writer.compute import compute
    from argus.writer.redis_writer import RedisWriter

    ch = clickhouse.connect(settings)
    market.generate(ch, settings, symbols, None, seed)
    server = fakeredis.FakeServer()
    sync = fakeredis.FakeRedis(server=server)
    report = RedisWriter(sync, settings).write(compute(ch, settings).outputs)
    return server, report.keys


def run(host: str = "127.0.0.1", port: int = 8000, symbols: int = 300) -> None:
    import fakeredis
    import uvicorn

    from argus.http.app import create_app

    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="argus-demo-"))
    try:
        settings = Settings.from_env(None, data_dir=workdir, host=host, port=port)
        with console.status(f"generating and computing {symbols} symbols (embedded chDB)"):
            server, written = prepare(settings, symbols)
        client = fakeredis.FakeAsyncRedis(server=server)
        app = create_app(settings, redis_client=client)
        url = f"http://{host}:{port}"
        console.print(f"[bold]Argus demo[/bold]: {symbols} symbols, {written:,} keys in an "
                      f"in-process Redis.\nGraphiQL: {url}/graphql\nDashboard: {url}/dashboard\n")
        for i, query in enumerate(EXAMPLES, 1):
            console.print(f"Example query {i}:\n{query}\n", highlight=False)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
