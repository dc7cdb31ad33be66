"""A seed-scale keyspace, loaded in seconds into a redis-server the bench owns.

Scale (``docs/contract/clarifications.md`` §3): 19,172 symbols (crypto pairs such as ``BINANCE:BTC-USDT``
and equity tickers, all canonical per ``docs/contract/symbols.md``), 8 regime hashes each (153,376), plus
regime hashes of unrequested symbols up to the seed's 209,033 regime keys; novelty for
every symbol; 20 correlation keys for each of 2,000 symbols; ``idx:{SYM}`` for every
symbol; a TTL on every key. Key names come from ``argus.keys`` only.

Loading bypasses redis-py: every chunk of commands is packed with ``hiredis.pack_command``,
sent in one write, and the replies are drained with ``hiredis.Reader``.
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass, field

import hiredis
import orjson

from argus import keys
from argus.settings import DEFAULT_CRYPTO_ASSETS, Settings
from argus.symbols import Normalizer

SEED_SYMBOLS = 19_172
SEED_REGIME_KEYS = 209_033
CORRELATED_SYMBOLS = 2_000
PARTNERS = 20
TTL = 86_400
LABELS = ("trending_up", "trending_down", "ranging", "volatile")
EXCHANGES = ("BINANCE", "COINBASE", "KRAKEN", "BYBIT", "OKX")
QUOTES = ("USDT", "USDC", "BTC", "ETH")


@dataclass
class Keyspace:
    symbols: list[str]
    correlated: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def seed_symbols(count: int = SEED_SYMBOLS) -> list[str]:
    """``count`` canonical symbols: about a third crypto pairs, the rest equity tickers."""
    crypto: list[str] = []
    for exchange in EXCHANGES:
        for base in DEFAULT_CRYPTO_ASSETS:
            crypto.extend(f"{exchange}:{base}-{quote}" for quote in QUOTES if quote != base)
    crypto = crypto[: count // 3]
    equities = [f"EQ{i:05d}" for i in range(count - len(crypto))]
    out = crypto + equities
    # Every name must already be canonical, or a query would ask for another symbol.
    normalizer = Normalizer.from_settings(Settings.from_env({}))
    bad = [s for s in out[:: max(1, len(out) // 500)] if normalizer.normalize(s) != s]
    assert not bad, f"not canonical: {bad[:5]}"
    return out


class _Loader:
    """Sends packed command chunks over one socket and drains the replies."""

    def __init__(self, port: int, chunk: int = 20_000) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.chunk = chunk
        self.buffer: list[bytes] = []
        self.sent = 0

    def add(self, *args: str | bytes | int | float) -> None:
        # hiredis's stub types the argument as a 1-tuple (Tuple[X], not Tuple[X, ...]).
        self.buffer.append(hiredis.pack_command(args))  # type: ignore[arg-type]
        if len(self.buffer) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        count = len(self.buffer)
        self.sock.sendall(b"".join(self.buffer))
        self.buffer.clear()
        reader = hiredis.Reader()
        got = 0
        while got < count:
            reader.feed(self.sock.recv(1 << 20))
            while got < count:
                reply = reader.gets()
                if reply is False:
                    break
                if isinstance(reply, hiredis.ReplyError):
                    raise RuntimeError(f"redis refused a seed command: {reply}")
                got += 1
        self.sent += count

    def close(self) -> None:
        self.flush()
        self.sock.close()


def load(port: int, n_symbols: int = SEED_SYMBOLS, regime_keys: int = SEED_REGIME_KEYS,
         correlated: int = CORRELATED_SYMBOLS, seed: int = 7) -> Keyspace:
    started = time.perf_counter()
    rng = random.Random(seed)
    symbols = seed_symbols(n_symbols)
    now = time.time()
    loader = _Loader(port)
    counts = {"regime": 0, "novelty": 0, "corr": 0, "idx": 0}

    def regime_hash(symbol: str, tf: str) -> str:
        name = keys.regime(symbol, tf)
        loader.add("HSET", name, "regime", rng.choice(LABELS),
                   "confidence", f"{rng.random():.4f}", "volatility", f"{rng.random():.4f}",
                   "trend", f"{rng.uniform(-3, 3):.4f}", "model", "argus-regime/1",
                   "computed_at", f"{now - rng.uniform(0, 60):.3f}")
        loader.add("EXPIRE", name, TTL)
        counts["regime"] += 1
        return name

    def index(symbol: str, names: list[str]) -> None:
        loader.add("SADD", keys.index(symbol), *names)
        loader.add("EXPIRE", keys.index(symbol), TTL)
        counts["idx"] += 1

    chosen = symbols[:: max(1, len(symbols) // correlated)][:correlated]
    corr_of = set(chosen)
    for symbol in symbols:
        names = [regime_hash(symbol, tf) for tf in keys.TIMEFRAMES]
        name = keys.novelty(symbol)
        loader.add("SET", name, orjson.dumps({
            "score": round(rng.random(), 4), "zscore": round(rng.gauss(0, 1), 4),
            "percentile": round(rng.random(), 4), "window": 500,
            "computed_at": round(now - rng.uniform(0, 60), 3)}), "EX", TTL)
        names.append(name)
        counts["novelty"] += 1
        if symbol in corr_of:
            for partner in rng.sample(symbols, PARTNERS + 1):
                if partner == symbol or len(names) == 9 + PARTNERS:
                    continue
                name = keys.corr(symbol, partner)
                loader.add("SET", name, orjson.dumps({
                    "coefficient": round(rng.uniform(-1, 1), 4), "window": 500,
                    "computed_at": round(now - rng.uniform(0, 60), 3)}), "EX", TTL)
                names.append(name)
                counts["corr"] += 1
        index(symbol, names)
    # Regime keys of symbols nobody requests, to reach the seed's regime keyspace.
    extra = 0
    while counts["regime"] < regime_keys:
        symbol = f"XU{extra:06d}"
        left = regime_keys - counts["regime"]
        index(symbol, [regime_hash(symbol, tf) for tf in keys.TIMEFRAMES[:left]])
        extra += 1
    loader.close()
    return Keyspace(symbols, chosen, counts, time.perf_counter() - started)
