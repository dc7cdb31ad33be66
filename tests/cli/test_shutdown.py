"""Stopping on signals: ``argus write --every`` between refreshes, ``argus serve`` gracefully."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from argus import keys
from tests.processes import kill_group, running, wait_until_healthy
from tests.redis_server import RedisServer, free_port
from tests.seed import full_symbol
from tests.slow_redis import SlowRedis

ROOT = Path(__file__).resolve().parents[2]
ARGUS = [sys.executable, "-m", "argus"]


@pytest.fixture(scope="module")
def market_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four symbols of bars in an embedded chDB of this module's own."""
    path = tmp_path_factory.mktemp("shutdown-data")
    subprocess.run([*ARGUS, "data", "generate", "--symbols", "4", "--bars", "400"], cwd=ROOT,
                   env={**os.environ, "ARGUS_DATA_DIR": str(path)}, check=True,
                   capture_output=True, timeout=120)
    return path


def _ignore_sigint() -> None:
    # What a non-interactive shell does to a job it starts with `&`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("inherited", ["default", "sigint-ignored"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_write_every_stops_between_refreshes_on_sigint_or_sigterm(
        market_dir: Path, redis_url: str, sync_redis: redis.Redis,
        signum: signal.Signals, inherited: str) -> None:
    env = {**os.environ, "ARGUS_DATA_DIR": str(market_dir), "ARGUS_REDIS_URL": redis_url}
    with running([*ARGUS, "write", "--every", "100ms"], cwd=ROOT, env=env, text=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 preexec_fn=_ignore_sigint if inherited == "sigint-ignored" else None) as proc:
        assert proc.stdout is not None
        first = [proc.stdout.readline(), proc.stdout.readline()]
        proc.send_signal(signum)
        rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err
    # Every line is a whole refresh's summary: none was cut short.
    lines = [*first, *rest.splitlines()]
    assert all(line.startswith("wrote 4 symbols") for line in lines), lines
    assert sync_redis.hlen(keys.UNIVERSE) == 4
    assert sum(1 for _ in sync_redis.scan_iter(match="regime:*")) == 4 * len(keys.TIMEFRAMES)


def test_a_writer_left_running_is_killed_with_its_group(market_dir: Path, redis_url: str) -> None:
    env = {**os.environ, "ARGUS_DATA_DIR": str(market_dir), "ARGUS_REDIS_URL": redis_url}
    with running([*ARGUS, "write", "--every", "100ms"], cwd=ROOT, env=env, text=True,
                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("wrote 4 symbols")
    assert proc.returncode == -signal.SIGKILL
    kill_group(proc)  # idempotent: the group is gone already


# --- argus serve: SIGTERM -------------------------------------------------------------------

#: uvicorn re-raises the signal it caught once its graceful shutdown is done.
CLEAN_EXIT = (0, -signal.SIGTERM)
QUERY = '{ symbol(symbol: "btc") { symbol novelty { score } } }'


@pytest.fixture
def slow_redis(redis_server: RedisServer, redis_url: str) -> Iterator[SlowRedis]:
    proxy = SlowRedis(redis_server.port).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def serve(slow_redis: SlowRedis, port: int, grace: int) -> tuple[list[str], dict[str, str]]:
    return [*ARGUS, "serve", "--port", str(port)], {
        **os.environ, "ARGUS_REDIS_URL": slow_redis.url, "ARGUS_ANONYMOUS_TIER": "internal",
        "ARGUS_REDIS_TIMEOUT": "3600", "ARGUS_SHUTDOWN_GRACE": str(grace)}


def in_flight(base: str, count: int) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = []

    def call() -> None:
        try:
            results.append(httpx.post(f"{base}/graphql", json={"query": QUERY}, timeout=120))
        except httpx.HTTPError as exc:
            results.append(exc)

    threads = [threading.Thread(target=call, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def wait_for(condition: Any, what: str, tries: int = 3000) -> None:
    for _ in range(tries):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never: {what}")


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_every_in_flight_request_and_refuses_new_ones(
        slow_redis: SlowRedis, sync_redis: redis.Redis) -> None:
    full_symbol(sync_redis, "BINANCE:BTC-USDT", [])
    port = free_port()
    args, env = serve(slow_redis, port, grace=60)
    with running(args, env=env, cwd=ROOT, stdin=subprocess.DEVNULL) as server:
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, server)
        slow_redis.slow(2.0)  # every Redis round of every request now waits 2 s
        threads, results = in_flight(base, 10)
        wait_for(lambda: slow_redis.waiting >= 10, "10 requests waiting on Redis")
        server.send_signal(signal.SIGTERM)
        wait_for(lambda: refused(port), "new connections refused")
        for thread in threads:
            thread.join(120)
        assert server.wait(60) in CLEAN_EXIT
    failed = [r for r in results if not isinstance(r, httpx.Response) or r.status_code != 200]
    assert failed == [] and len(results) == 10
    assert all(r.json()["data"]["symbol"]["novelty"] == {"score": 0.5} for r in results)


def test_sigterm_cancels_what_outlives_the_grace_period(slow_redis: SlowRedis) -> None:
    port = free_port()
    args, env = serve(slow_redis, port, grace=1)
    with running(args, env=env, cwd=ROOT, stdin=subprocess.DEVNULL) as server:
        wait_until_healthy(f"http://127.0.0.1:{port}", server)
        slow_redis.slow(3_600.0)  # Redis never answers in this test's life
        in_flight(f"http://127.0.0.1:{port}", 1)
        wait_for(lambda: slow_redis.arrivals >= 1, "a request waiting on Redis")
        server.send_signal(signal.SIGTERM)
        # Without a grace period the server would wait on that request for an hour.
        assert server.wait(60) in CLEAN_EXIT
