"""``argus demo``, as a user runs it: embedded chDB and Redis, the API and GraphiQL answering."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

from argus.cli.demo import EXAMPLES
from tests.processes import kill_group, spawn
from tests.redis_server import free_port


@contextlib.contextmanager
def demo(*options: str) -> Iterator[str]:
    """``argus demo --symbols 30 *options`` on a free port, with no ``ARGUS_*`` setting of
    this environment; yields its base URL once ``/healthz`` answers (or 90 s passed), and
    kills it however the test ends."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    process = spawn([sys.executable, "-m", "argus", "demo", "--port", str(port),
                     "--symbols", "30", *options], env=env, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        kill_group(process)


def test_the_demo_answers_its_example_queries_graphiql_and_rest() -> None:
    with demo() as base:
        for query in EXAMPLES:
            response = httpx.post(f"{base}/graphql", json={"query": query})
            assert response.status_code == 200
            body = response.json()
            assert "errors" not in body, body
            answers = [body["data"]["symbol"]] if "symbol" in body["data"] else body["data"]["symbols"]
            assert answers and all(a is not None and a["regime"] for a in answers)
        assert body["data"]["symbols"][0]["symbol"] == "BINANCE:ETH-USDT"
        rest = httpx.get(f"{base}/api/intelligence/BTC/USD")
        assert rest.status_code == 200
        assert rest.json()["symbol"] == "BINANCE:BTC-USDT"
        page = httpx.get(f"{base}/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assert httpx.get(f"{base}/static/graphiql/graphiql.min.js").status_code == 200


def test_the_demo_market_ticks_and_its_changes_reach_a_subscriber() -> None:
    query = ('subscription { regimeChanges(symbols: ["BTC", "ETH-USD", "AAPL", "NVDA"])'
             " { id timeframe label previous symbol { symbol regime { timeframe label } } } }")
    with demo("--tick", "0.5") as base:
        deadline = time.monotonic() + 60
        with httpx.stream("POST", f"{base}/graphql", json={"query": query},
                          headers={"Accept": "text/event-stream"}, timeout=60) as stream:
            assert stream.status_code == 200
            # The events reader reads the demo's in-process Redis (never ARGUS_REDIS_URL's
            # default): only it holds the ticks' changes. Keep-alives bound each wait.
            data = ""
            for line in stream.iter_lines():
                if line.startswith("data: {"):
                    data = line
                    break
                assert time.monotonic() < deadline, "no regime change reached the subscriber"
        change = json.loads(data[len("data: "):])["data"]["regimeChanges"]
        assert change["label"] != change["previous"]
        # The change is the written state: the symbol's regime on that timeframe now reads it.
        regimes = {r["timeframe"]: r["label"] for r in change["symbol"]["regime"]}
        assert regimes[change["timeframe"]] == change["label"]
