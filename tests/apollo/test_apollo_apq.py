"""Apollo Client's persisted-query link (npm ``@apollo/client``) against a live Argus.

The link sends the hash alone, gets ``PERSISTED_QUERY_NOT_FOUND``, retries with the text
(which registers it), and sends the hash alone again, now served. Run with Node's global
``fetch``; the npm packages come from ``tests/apollo/package-lock.json`` (``npm ci``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from argus import keys
from tests.live_server import live_server
from tests.seed import full_symbol

HERE = Path(__file__).resolve().parent


def node_packages() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the Apollo Client test (tests/apollo/)")
    if not (HERE / "node_modules" / "@apollo" / "client").is_dir():
        subprocess.run(["npm", "ci", "--prefix", str(HERE), "--no-audit", "--no-fund"],
                       check=True, capture_output=True, timeout=600, stdin=subprocess.DEVNULL)


def run_client(url: str, mode: str) -> Any:
    done = subprocess.run(["node", str(HERE / "apq.mjs"), url, mode], capture_output=True,
                          text=True, timeout=120, cwd=HERE, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["post", "get"])
def test_apollo_persisted_query_link_misses_registers_then_hits(
        mode: str, redis_url: str, sync_redis: redis.Redis) -> None:
    node_packages()
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    with live_server(redis_url) as base:
        out = run_client(f"{base}/graphql", mode)
    hashed = "GET" if mode == "get" else "POST"
    steps = [(e["method"], e["withQuery"], e["status"], e["codes"]) for e in out["exchanges"]]
    assert steps == [
        (hashed, False, 200, ["PERSISTED_QUERY_NOT_FOUND"]),
        ("POST", True, 200, []),  # the retry with the text registers it
        (hashed, False, 200, []),  # the second query: the hash alone is served
    ]
    sha = out["exchanges"][0]["sha256Hash"]
    assert {e["sha256Hash"] for e in out["exchanges"]} == {sha}
    assert sync_redis.get(keys.persisted_query(sha)) is not None
    for data in out["data"]:
        assert data["symbol"]["symbol"] == "BINANCE:BTC-USDT"
        assert data["symbol"]["regime"][0]["label"] == "trending_up"
