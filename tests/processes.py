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
