"""The dashboard (``/dashboard``) in a real browser, on a live ``argus serve``.

Debian's chromium, driven by ``playwright-core`` (``dashboard.mjs``), loads the page for
BTC, ETH and an unknown symbol and must show their regimes, novelty and correlations (the
unknown one's NOT_FOUND in its row) and go live; a regime change the real writer then
writes must reach its cell over the page's SSE subscription. No console error, page error,
CSP violation or request off the server. Skipped like the GraphiQL test.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time

import redis

from tests.browser.test_graphiql import CHROMIUM, HERE, node_packages
from tests.live_server import live_server
from tests.seed import full_symbol
from tests.writer.test_redis_writer import output, writer

BTC, ETH = "BINANCE:BTC-USDT", "BINANCE:ETH-USDT"


def line_of(process: subprocess.Popen[str], timeout: float) -> str:
    """The next line ``process`` prints, or ``""`` when it exits or ``timeout`` passes."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return process.stdout.readline()


def test_the_dashboard_shows_symbols_and_follows_their_regime_changes_live(
        redis_url: str, sync_redis: redis.Redis) -> None:
    node = node_packages()
    full_symbol(sync_redis, BTC, [ETH])
    full_symbol(sync_redis, ETH, [BTC])
    with live_server(redis_url) as base:
        process = subprocess.Popen([node, str(HERE / "dashboard.mjs"), base], text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, env={**os.environ, "CHROMIUM": CHROMIUM})
        try:
            deadline = time.monotonic() + 90
            lines: list[str] = []
            while time.monotonic() < deadline:
                line = line_of(process, deadline - time.monotonic())
                if not line:
                    break
                lines.append(line)
                if line.strip() == "READY":  # the page is live: the change must reach it
                    writer(redis_url).write([output(BTC, {"1h": "volatile"}, [ETH])])
                    break
            out, err = process.communicate(timeout=90)
        finally:
            process.kill()
            process.wait(10)
    lines += out.splitlines()
    assert any(line.strip() == "READY" for line in lines), f"never live: {err[-2000:]}"
    report = json.loads(lines[-1])
    assert report["problems"] == [], report
    assert process.returncode == 0
