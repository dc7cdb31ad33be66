"""Profile the read path in-process: ``python -m bench.profile_read [one|100|1000] [-n N]``.

Loads the seed-scale keyspace into a redis-server of its own, builds the app with
``create_app`` (``internal`` tier) and settles its heap as ``argus serve`` does, and drives
the ASGI app directly (no HTTP client, no socket) on uvloop under pyinstrument
(``pip install pyinstrument``; a profiling aid, not a dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson

from argus.http.app import create_app, settle_heap
from argus.settings import Settings
from bench import keyspace
from tests.queries import BATCH, FULL_ONE
from tests.redis_server import RedisServer


async def call(app: Any, body: bytes) -> bytes:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json"),
                                          (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent = False
    out: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            out.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(out)


async def run(shape: str, n: int) -> None:
    from pyinstrument import Profiler

    server = RedisServer().start()
    try:
        ks = keyspace.load(server.port)
        settings = Settings.from_env({}, redis_url=server.url, anonymous_tier="internal")
        app = create_app(settings)
        settle_heap(settings)  # the server's collector settings, or GC shows up in [self] times
        if shape == "one":
            bodies = [orjson.dumps({"query": FULL_ONE, "variables": {"s": s}}) for s in ks.correlated[:50]]
        else:
            size = int(shape)
            bodies = [orjson.dumps({"query": BATCH, "variables": {"s": ks.symbols[i * 1500: i * 1500 + size]}})
                      for i in range(5)]
        async with app.router.lifespan_context(app):
            first = orjson.loads(await call(app, bodies[0]))
            assert "errors" not in first, str(first)[:300]
            for body in bodies:
                await call(app, body)
            profiler = Profiler(interval=0.0002, async_mode="enabled")
            started = time.perf_counter()
            with profiler:
                for i in range(n):
                    await call(app, bodies[i % len(bodies)])
            per = (time.perf_counter() - started) / n * 1000
        print(f"{shape}: {per:.2f} ms per request in-process (profiled)")
        profiler.print(show_all=False, short_mode=False, unicode=True, color=False)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=["one", "100", "1000"])
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    import uvloop

    uvloop.install()
    asyncio.run(run(args.shape, args.n))


if __name__ == "__main__":
    main()
