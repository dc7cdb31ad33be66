"""Test data written exactly as the keyspace contract says, through ``argus.keys``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson
import redis

from argus import keys


def regime_fields(label: str = "trending_up", age: float = 10.0, **extra: Any) -> dict[str, str]:
    fields = {"regime": label, "confidence": "0.82", "volatility": "0.61", "trend": "1.7",
              "model": "argus-regime/1", "computed_at": repr(time.time() - age)}
    fields.update({k: str(v) for k, v in extra.items()})
    return {k: v for k, v in fields.items() if v != "None"}


def write_symbol(
    r: redis.Redis,
    symbol: str,
    *,
    regimes: Mapping[str, Mapping[str, str]] | None = None,
    novelty: Mapping[str, Any] | bytes | None = None,
    correlations: Mapping[str, Mapping[str, Any] | bytes] | None = None,
    index: bool = True,
    ttl: int = 3_600,
) -> list[str]:
    """Write one symbol's keys (and its index); return the key names written."""
    names: list[str] = []
    pipe = r.pipeline(transaction=False)
    for tf, fields in (regimes or {}).items():
        name = keys.regime(symbol, tf)
        pipe.hset(name, mapping=dict(fields.items()))
        names.append(name)
    if novelty is not None:
        name = keys.novelty(symbol)
        pipe.set(name, novelty if isinstance(novelty, bytes) else orjson.dumps(novelty))
        names.append(name)
    for partner, value in (correlations or {}).items():
        name = keys.corr(symbol, partner)
        pipe.set(name, value if isinstance(value, bytes) else orjson.dumps(value))
        names.append(name)
    for name in names:
        pipe.expire(name, ttl)
    if index and names:
        pipe.sadd(keys.index(symbol), *names)
        pipe.expire(keys.index(symbol), ttl)
    pipe.execute()
    return names


def full_symbol(r: redis.Redis, symbol: str, partners: list[str], age: float = 10.0) -> None:
    """Eight regimes, novelty and one correlation per partner."""
    now = time.time()
    write_symbol(
        r, symbol,
        regimes={tf: regime_fields(age=age) for tf in keys.TIMEFRAMES},
        novelty={"score": 0.5, "zscore": 1.0, "percentile": 0.7, "window": 500, "computed_at": now - age},
        correlations={p: {"coefficient": round(0.99 - i * 0.01, 2), "window": 500, "computed_at": now}
                      for i, p in enumerate(partners)},
    )
