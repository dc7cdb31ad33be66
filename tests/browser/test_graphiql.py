"""GraphiQL in a real browser under the page's Content-Security-Policy.

A policy can break the page without a sound, so Debian's chromium (headless, driven by
``playwright-core`` from npm; no browser download) opens GraphiQL on a live ``argus
serve``, runs the default query and must see ``BINANCE:BTC-USDT`` data in the result pane,
with no console error (CSP violations are), no page error and no request off the server
(``graphiql.mjs``). Skipped only where chromium or node is missing and ``CI`` is unset; in
CI a missing browser fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from tests.live_server import live_server
from tests.seed import full_symbol

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def require(present: bool, what: str) -> None:
    if present:
        return
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing, and CI must run the browser test (scripts/test.sh installs it)")
    pytest.skip(f"{what} is missing (scripts/test.sh installs it)")


def node_packages() -> str:
    node = shutil.which("node")
    require(node is not None and os.access(CHROMIUM, os.X_OK), "chromium or node")
    assert node is not None
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        npm = shutil.which("npm")
        require(npm is not None, "npm")
        assert npm is not None
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True,
                       timeout=300, stdin=subprocess.DEVNULL,
                       env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"})
    return node


def test_graphiql_runs_a_query_under_its_content_security_policy(
        redis_url: str, sync_redis: redis.Redis) -> None:
    node = node_packages()
    full_symbol(sync_redis, "BINANCE:BTC-USDT", ["BINANCE:ETH-USDT"])
    with live_server(redis_url) as base:
        run = subprocess.run([node, str(HERE / "graphiql.mjs"), base], capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL,
                             env={**os.environ, "CHROMIUM": CHROMIUM})
    lines = run.stdout.strip().splitlines()
    assert lines, f"no report from graphiql.mjs (exit {run.returncode}): {run.stderr[-2000:]}"
    report = json.loads(lines[-1])
    assert report["problems"] == [], report
    assert run.returncode == 0
    assert '"BINANCE:BTC-USDT"' in report["result"]
