"""Stopping on signals: ``argus write --every`` between refreshes, ``argus serve`` gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from argus import keys
from tests.processes import kill_group, running

ROOT = Path(__file__).resolve().parents[1]
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
