"""The app on a real socket: uvicorn with httptools (as ``argus serve``), in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from argus.app import create_app
from argus.settings import Settings
from tests.redis_server import free_port


@contextmanager
def live_server(settings: Settings) -> Iterator[tuple[str, int]]:
    """``(host, port)`` of a running server; stopped on exit, even when the test fails."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                            http="httptools", log_level="warning", access_log=False,
                            log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
