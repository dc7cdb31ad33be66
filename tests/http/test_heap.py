"""The server hands freed heap pages back to the OS (``argus.http.app.keep_heap_trimmed``)."""

from __future__ import annotations

import asyncio
import sys

import psutil
import pytest

from argus.http import app as app_module

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def test_trimming_returns_the_pages_a_freed_burst_left_behind() -> None:
    trim = app_module.malloc_trim()
    assert trim is not None
    process = psutil.Process()
    # 150 MB in objects too large for pymalloc (glibc's heap), with a small survivor after
    # every one, as a big answer leaves behind: freed, the pages stay in the heap.
    burst = [bytes(4_000) for _ in range(37_500)]
    survivors = [bytearray(600) for _ in range(0, len(burst), 16)]
    trim()
    before = process.memory_info().rss
    del burst
    freed = process.memory_info().rss
    trim()
    after = process.memory_info().rss
    assert survivors
    assert freed > before - 50_000_000  # freed, yet still resident
    assert after < before - 50_000_000  # trimmed: handed back


def test_the_trim_loop_runs_every_interval_and_stops_when_cancelled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(app_module, "malloc_trim", lambda: (lambda: calls.append(1)))

    async def run() -> None:
        task = asyncio.create_task(app_module.keep_heap_trimmed(0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert len(calls) >= 3


def test_an_interval_of_zero_never_trims(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(app_module, "malloc_trim", lambda: (lambda: calls.append(1)))
    asyncio.run(app_module.keep_heap_trimmed(0))
    assert calls == []
