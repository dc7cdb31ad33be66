from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from argus import keys
from argus.writer import ttl
from tests.processes import kill_group

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_mid_write_leaves_no_key_without_ttl_and_no_dangling_index(
        redis_url: str, sync_redis: redis.Redis) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.writer.crash_writer", redis_url, "400"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("round 0")  # a full round, then more
        time.sleep(0.15)
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    assert sum(ttl.audit(sync_redis).values()) == 0
    indexes = list(sync_redis.scan_iter(match="idx:{*}", count=1000))
    assert len(indexes) == 400
    for index in indexes:
        members = sync_redis.smembers(index)
        assert members
        assert all(sync_redis.exists(m) for m in members), index
    # And no data key exists that its index does not list.
    for pattern in keys.CONTRACT_PATTERNS[:-1]:
        for name in sync_redis.scan_iter(match=pattern, count=1000):
            parsed = keys.parse(name)
            assert parsed is not None
            assert sync_redis.sismember(keys.index(parsed.symbol), name), name
