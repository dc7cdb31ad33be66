"""The dashboard (``/dashboard``) in a real browser, on a live ``argus serve``.

Debian's chromium, driven by ``playwright-core`` (``dashboard.mjs``), loads the page for
BTC, ETH and an unknown symbol and must show their regimes, novelty and correlations (the
unknown one's NOT_FOUND in its row) and go live; a regime change the real writer then
writes must reach its cell over the page's SSE subscription, and a new novelty score the
page's next read of the table. No console error, page error,
CSP violation or request off the server. Then the same page through a restart of the
server: it must resume after the last change it got and show one written while the
server was down. Skipped like the GraphiQL test.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

import orjson
import redis

from argus import keys
from tests.browser.test_graphiql import CHROMIUM, HERE, node_packages
from tests.live_server import live_server
from tests.processes import running, wait_until_healthy
from tests.redis_server import free_port
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


def until(process: subprocess.Popen[str], word: str, lines: list[str], seconds: float = 60) -> bool:
    """Read ``process``'s lines into ``lines`` until one is ``word`` (True) or it stops."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = line_of(process, deadline - time.monotonic())
        if not line:
            return False
        lines.append(line)
        if line.strip() == word:
            return True
    return False


def report_of(process: subprocess.Popen[str], lines: list[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    lines += out.splitlines()
    assert lines, f"no report (exit {process.returncode}): {err[-2000:]}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def test_the_dashboard_shows_symbols_and_follows_their_regime_changes_live(
        redis_url: str, sync_redis: redis.Redis) -> None:
    node = node_packages()
    full_symbol(sync_redis, BTC, [ETH])
    full_symbol(sync_redis, ETH, [BTC])
    with live_server(redis_url) as base:
        process = subprocess.Popen([node, str(HERE / "dashboard.mjs"), base], text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, env={**os.environ, "CHROMIUM": CHROMIUM})
        lines: list[str] = []
        try:
            if until(process, "READY", lines):  # the page is live: the change must reach it
                writer(redis_url).write([output(BTC, {"1h": "volatile"}, [ETH])])
            if until(process, "CHANGED", lines):  # a score the next read of the table shows
                sync_redis.set(keys.novelty(BTC), orjson.dumps(
                    {"score": 0.93, "window": 500, "computed_at": time.time()}), ex=3600)
            report = report_of(process, lines)
        finally:
            process.kill()
            process.wait(10)
    assert "READY\n" in lines, report
    assert report["problems"] == [], report
    assert process.returncode == 0


def test_the_dashboard_resumes_after_a_server_restart_without_missing_a_change(
        redis_url: str, sync_redis: redis.Redis) -> None:
    node = node_packages()
    full_symbol(sync_redis, BTC, [ETH])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [sys.executable, "-m", "argus", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "ARGUS_REDIS_URL": redis_url, "ARGUS_UNIVERSE_REFRESH": "3600",
           "ARGUS_SHUTDOWN_GRACE": "2"}
    lines: list[str] = []
    with running([node, str(HERE / "dashboard_resume.mjs"), base], text=True,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                 env={**os.environ, "CHROMIUM": CHROMIUM}) as page:
        with running(serve, env=env, stdin=subprocess.DEVNULL) as first:
            wait_until_healthy(base, first)
            assert until(page, "READY", lines), lines
            writer(redis_url).write([output(BTC, {"1h": "volatile"}, [ETH])])
            assert until(page, "GOT", lines), lines
            first.send_signal(signal.SIGTERM)  # open streams end with SERVICE_UNAVAILABLE
            first.wait(15)
        assert until(page, "DOWN", lines), lines
        # Written while no server runs: only a resume with `after` can bring it.
        writer(redis_url).write([output(BTC, {"1h": "volatile", "4h": "ranging"}, [ETH])])
        with running(serve, env=env, stdin=subprocess.DEVNULL) as second:
            wait_until_healthy(base, second)
            report = report_of(page, lines)
    assert report["problems"] == [], report
    assert page.returncode == 0
