"""Writer benchmark at the seed's scale: ``python -m bench.writer_bench [--quick]``.

Times, on this machine, with an embedded chDB in a temporary directory and a real
``redis-server`` it starts itself on a free port:

* ``argus data generate`` of 19,172 symbols × the generator's default bars (525: every
  timeframe has the buckets its regime needs, ``market.buckets_needed``; ≈ 10M bars);
* compute, split into resampling (ClickHouse), regime, novelty and correlations;
* the write to Redis, first into an empty keyspace and then again over its own keys
  (the steady state: label comparisons, dropped partners, index rewrites);
* ``argus ttl fix`` over 209,033 TTL-less keys (regime hashes, as the seed had).

Goals: full refresh (compute + write) ≤ 30 s (issue 10), write ≤ 15 s, ttl fix ≤ 10 s.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import redis

from argus import keys
from argus.settings import Settings
from argus.writer import clickhouse, market, ttl
from argus.writer.compute import compute
from argus.writer.redis_writer import RedisWriter
from tests.redis_server import RedisServer

SEED_SYMBOLS = 19_172
SEED_TTL_LESS_KEYS = 209_033


def ttl_less_keyspace(client: redis.Redis, symbols: list[str], total: int) -> None:
    """``total`` regime hashes without TTL: every symbol's 8, then unrequested symbols'."""
    pipe = client.pipeline(transaction=False)
    made = 0
    extra = 0
    while made < total:
        for sym in symbols if extra == 0 else [f"X{extra:06d}"]:
            for tf in keys.TIMEFRAMES:
                if made == total:
                    break
                pipe.hset(keys.regime(sym, tf), mapping={"regime": "ranging",
                                                         "computed_at": "1795000000"})
                made += 1
            if len(pipe) >= 10_000:
                pipe.execute()
        extra += 1
    pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 symbols, 20,000 TTL-less keys")
    parser.add_argument("--bars", type=int, default=None,
                        help="bars per symbol (default: the generator's, market.default_bars())")
    args = parser.parse_args()
    n_symbols = 500 if args.quick else SEED_SYMBOLS
    n_ttl = 20_000 if args.quick else SEED_TTL_LESS_KEYS

    workdir = Path(tempfile.mkdtemp(prefix="argus-bench-"))
    server = RedisServer().start()
    try:
        settings = Settings.from_env({}, data_dir=workdir, redis_url=server.url)
        client = redis.Redis.from_url(server.url, socket_timeout=60)
        ch = clickhouse.connect(settings)
        figures: list[tuple[str, float, float | None]] = []

        t0 = time.perf_counter()
        rows = market.generate(ch, settings, n_symbols, args.bars, seed=42)
        figures.append((f"generate {n_symbols:,} symbols, {rows:,} bars",
                        time.perf_counter() - t0, None))

        t0 = time.perf_counter()
        computed = compute(ch, settings)
        compute_s = time.perf_counter() - t0
        for part, seconds in computed.seconds.items():
            figures.append((f"  compute: {part}", seconds, None))
        figures.append((f"compute (base timeframe {computed.base_timeframe})", compute_s, None))

        writer = RedisWriter(client, settings)
        t0 = time.perf_counter()
        report = writer.write(computed.outputs)
        write_s = time.perf_counter() - t0
        figures.append((f"write {report.symbols:,} symbols, {report.keys:,} keys (empty Redis)",
                        write_s, 15.0))
        t0 = time.perf_counter()
        again = compute(ch, settings)
        recompute_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        writer.write(again.outputs)
        rewrite_s = time.perf_counter() - t0
        figures.append(("write again over its own keys (steady state)", rewrite_s, 15.0))
        figures.append(("full refresh = compute + write (steady state)",
                        recompute_s + rewrite_s, 30.0))
        remaining = sum(ttl.audit(client).values())
        figures.append((f"  (keys without TTL after writing: {remaining})", 0.0, None))

        client.flushall()
        ttl_less_keyspace(client, [o.symbol for o in computed.outputs], n_ttl)
        client.set("unrelated:key", "untouched")
        t0 = time.perf_counter()
        fixed = ttl.fix(client, settings.ttl)
        figures.append((f"ttl fix of {fixed.fixed:,} TTL-less keys ({fixed.remaining} remain)",
                        time.perf_counter() - t0, 10.0))
        assert client.ttl("unrelated:key") == -1

        width = max(len(name) for name, _, _ in figures)
        for name, seconds, goal in figures:
            limit = f"  (goal ≤ {goal:.0f} s: {'ok' if seconds <= goal else 'MISSED'})" if goal \
                else ""
            shown = f"{seconds:8.2f} s" if seconds else " " * 10
            print(f"{name:<{width}}  {shown}{limit}")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
