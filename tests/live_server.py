"""``python -m argus serve`` as a real process on a free port, killed however the test ends."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping

import httpx

from tests.redis_server import free_port


@contextlib.contextmanager
def live_server(redis_url: str, env: Mapping[str, str] | None = None,
                startup: float = 30.0) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:<port>``) once ``/healthz`` answers."""
    port = free_port()
    environ = {**os.environ, "ARGUS_REDIS_URL": redis_url, "ARGUS_UNIVERSE_REFRESH": "3600",
               **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "argus", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environ, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"argus serve exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("argus serve did not answer /healthz in time")
            time.sleep(0.1)
        yield base
    finally:
        process.kill()
        process.wait(10)
