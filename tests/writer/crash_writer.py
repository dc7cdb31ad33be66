"""A writer process for the crash-safety test: rewrites many symbols until it is killed.

Each round changes every symbol's timeframes and correlation partners, so a kill at any
moment lands in the middle of deletions, index rewrites and new keys.
"""

from __future__ import annotations

import sys

import redis

from argus import keys
from argus.settings import Settings
from argus.writer.compute import SymbolOutput
from argus.writer.redis_writer import RedisWriter


def outputs(round_: int, n: int) -> list[SymbolOutput]:
    out = []
    for i in range(n):
        tfs = keys.TIMEFRAMES[(i + round_) % 3:][: 3 + (round_ + i) % 6]
        label = ("ranging", "volatile", "trending_up")[(i + round_) % 3]
        regimes = {tf: {"regime": label, "computed_at": str(round_)} for tf in tfs}
        partners = {f"S{(i + round_ + j) % n:04d}": '{"coefficient":0.5}'
                    for j in range(1, 1 + (round_ + i) % 40)}
        nov = '{"score":0.1}' if (i + round_) % 2 else None
        out.append(SymbolOutput(f"S{i:04d}", regimes, nov, partners))
    return out


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    settings = Settings.from_env({}, redis_url=url, ttl=3600, write_batch=50)
    writer = RedisWriter(redis.Redis.from_url(url), settings)
    round_ = 0
    while True:
        writer.write(outputs(round_, n))
        print(f"round {round_}", flush=True)
        round_ += 1


if __name__ == "__main__":
    main()
