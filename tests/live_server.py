"""``python -m argus serve`` as a real process on a free port, killed however the test ends,
and a ``graphql-transport-ws`` connection to a live server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

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


@contextlib.contextmanager
def graphql_ws(base: str) -> Iterator[Any]:
    """A ``graphql-transport-ws`` connection to ``base``'s ``/graphql`` (websockets' sync
    client), its ``connection_init`` acknowledged."""
    from websockets.sync.client import connect

    with connect(base.replace("http://", "ws://", 1) + "/graphql",
                 subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send('{"type": "connection_init"}')
        assert ws.recv(5) == '{"type":"connection_ack"}'
        yield ws
