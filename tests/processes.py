"""Processes the tests start, killed with their whole process group whatever happens.

Each child gets a session (and so a process group) of its own: a test that fails or times
out (pytest-timeout raises inside it) kills the child and anything it started, so nothing
leaks into later tests, such as a writer still writing into the shared test Redis.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def spawn(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(args, start_new_session=True, **kwargs)


def kill_group(process: subprocess.Popen[Any]) -> None:
    """SIGKILL the child's process group (its own children too), then reap the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


@contextmanager
def running(args: Sequence[str], **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    process = spawn(args, **kwargs)
    try:
        yield process
    finally:
        kill_group(process)


def wait_until_healthy(base: str, process: subprocess.Popen[Any], seconds: float = 60) -> None:
    """Poll ``/healthz`` until the server answers; fail at once if it exits."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{base} did not become healthy")
