"""Market data in ClickHouse: the bars table, the synthetic generator and the importer.

The table (``docs/market-data.md``)::

    bars(symbol LowCardinality(String), ts DateTime64(3, 'UTC'), bar_seconds UInt32,
         open, high, low, close, volume Float64)
    ENGINE = MergeTree ORDER BY (symbol, ts)

``ts`` is ``DateTime64`` because ``DateTime`` stops at 1970 (and 2106): real daily history
starts earlier. A table made by an older Argus (``ts DateTime``) is migrated the first
time the writer opens it (``create_table``): copied into a new table that then takes its
place (``EXCHANGE TABLES``), since ClickHouse refuses to retype a sorting-key column.

``bar_seconds`` is each bar's own size, so one symbol can mix sizes (1-minute bars for the
latest hours, daily bars for years) and a timeframe is resampled only from bars no coarser
than itself: a timeframe finer than the data gets no bars, never fabricated ones.

The generator runs entirely inside ClickHouse (``INSERT … SELECT`` from ``numbers()`` with
window functions), deterministic per seed; only the symbol names are built in Python.
The importer lives in ``argus.writer.importer``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from argus import keys
from argus.settings import Settings
from argus.symbols import Normalizer
from argus.writer.clickhouse import ClickHouse

TABLE = "bars"

#: Generated symbols end here by default (a fixed instant, so data is a pure function of
#: the seed); ``--end`` moves it.
DEFAULT_END = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)

#: Crypto venues of generated pairs and their quotes (non-default venues keep their quote).
_VENUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("BINANCE", ("USDT", "USDC", "BTC", "ETH")),
    ("COINBASE", ("USD",)),
    ("KRAKEN", ("USD", "EUR")),
)
_FAMOUS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "BRK.B", "JPM", "V",
           "XOM", "UNH", "JNJ", "WMT", "PG", "MA", "HD", "KO", "PEP", "NFLX")  # fmt: skip
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


TS_TYPE = "DateTime64(3, 'UTC')"
#: ``bar_seconds`` of a bar whose size is not known yet (a symbol's only bar): larger than
#: every timeframe, so no timeframe uses it until an import with more bars sizes it.
UNKNOWN_SIZE = 2**32 - 1

_DDL = (
    "CREATE TABLE {table} ("
    " symbol LowCardinality(String), ts " + TS_TYPE + ", bar_seconds UInt32,"
    " open Float64, high Float64, low Float64, close Float64, volume Float64"
    ") ENGINE = MergeTree ORDER BY (symbol, ts)"
)


def create_table(ch: ClickHouse, table: str = TABLE) -> None:
    """Create ``table`` if missing, or migrate an old one whose ``ts`` is ``DateTime``."""
    ch.command(_DDL.format(table=f"IF NOT EXISTS {table}"))
    migrate(ch, table)


def migrate(ch: ClickHouse, table: str = TABLE) -> bool:
    """Retype an old table's ``ts`` to ``DateTime64``; ``False`` when there was nothing to do.

    Idempotent and restartable: a copy left by an interrupted run is dropped and redone, and
    the swap is one ``EXCHANGE TABLES``, so readers see the old table or the new, never half.
    """
    kind = ch.scalar("SELECT type FROM system.columns WHERE database = currentDatabase()"
                     " AND table = {t:String} AND name = 'ts'", {"t": table})
    if kind is None or str(kind).startswith("DateTime64"):
        return False
    copy = f"{table}_migrating"
    ch.command(f"DROP TABLE IF EXISTS {copy}")
    ch.command(_DDL.format(table=copy))
    ch.command(f"INSERT INTO {copy} (symbol, ts, bar_seconds, open, high, low, close, volume)"
               " SELECT symbol, ts, bar_seconds, open, high, low, close, volume"
               f" FROM {table}")
    ch.command(f"EXCHANGE TABLES {copy} AND {table}")
    ch.command(f"DROP TABLE {copy}")
    return True


@dataclass(frozen=True, slots=True)
class Tier:
    """One bar size of the generator's layout: ``count`` bars of ``seconds``, ending at ``end``."""

    timeframe: str
    seconds: int
    count: int
    end: int


#: The fewest buckets the default layout gives a timeframe (``buckets_needed``).
MIN_BUCKETS = 60


def buckets_needed(timeframe: str) -> int:
    """Buckets a timeframe needs for the regime model's baselines at full strength: its trend
    horizon twice over (the horizon itself, and as much again before it for the peak/trough
    filter and the long volatility baseline to settle), and at least ``MIN_BUCKETS`` so that
    the long baseline has history on timeframes with short horizons."""
    from argus.writer import regime  # numpy; and regime's resample imports this module

    return max(2 * regime.HORIZON[timeframe], MIN_BUCKETS, regime.VR_BARS[timeframe]) + 1


def _minimum_counts() -> list[int]:
    """Bars per tier, finest first, so that every timeframe has ``buckets_needed``: a tier
    gets what its timeframe still lacks once the finer, more recent tiers are resampled
    into it (whole buckets only, counted low)."""
    counts: list[int] = []
    covered = 0  # seconds the finer tiers span
    for tf in keys.TIMEFRAMES:
        seconds = keys.TIMEFRAME_SECONDS[tf]
        own = max(buckets_needed(tf) - covered // seconds, 1)
        counts.append(own)
        covered += own * seconds
    return counts


def default_bars() -> int:
    """The generator's default bars per symbol: the least that gives every timeframe the
    buckets its regime needs (``buckets_needed``)."""
    return sum(_minimum_counts())


def layout(bars: int | None = None, end: dt.datetime = DEFAULT_END) -> list[Tier]:
    """Bars per size: one tier per timeframe, the finest the most recent, oldest last.

    ``bars`` defaults to ``default_bars()``. From there on, each tier gets its share of
    ``_minimum_counts`` and the rest is spread evenly (the 1-minute tier takes the
    remainder), so every timeframe has at least ``buckets_needed`` buckets. Fewer bars scale
    the minimum down in proportion (at least one bar a tier): every timeframe still has bars
    of its own size, only fewer buckets.
    """
    n = len(keys.TIMEFRAMES)
    minimum = _minimum_counts()
    least = sum(minimum)
    bars = least if bars is None else bars
    if bars < n:
        raise ValueError(f"--bars must be at least {n}")
    if bars >= least:
        extra = (bars - least) // n
        counts = [m + extra for m in minimum]
    else:
        counts = [max(1, m * bars // least) for m in minimum]
    counts[0] += bars - sum(counts)  # the 1-minute tier takes what rounding left
    tiers: list[Tier] = []
    cursor = int(end.timestamp())
    for tf, count in zip(keys.TIMEFRAMES, counts, strict=True):
        seconds = keys.TIMEFRAME_SECONDS[tf]
        cursor -= cursor % seconds if tf not in ("1w", "1M") else 0
        tiers.append(Tier(tf, seconds, count, cursor))
        cursor -= count * seconds
    return tiers


def symbol_names(count: int, normalizer: Normalizer) -> list[tuple[str, str]]:
    """``count`` canonical symbols with their kind: crypto pairs first, then equities.

    About one in forty symbols is a crypto pair (all of them when ``count`` is small, at
    least the first few), and every name is checked to be its own canonical form.
    """
    crypto: list[str] = []
    for venue, quotes in _VENUES:
        for base in normalizer.crypto_assets and sorted(normalizer.crypto_assets):
            for quote in quotes:
                name = f"{venue}:{base}-{quote}"
                if base != quote and normalizer.normalize(name) == name:
                    crypto.append(name)
    n_crypto = min(len(crypto), max(min(count, 4), count // 40))
    # Interleave venues so a small universe still mixes BTC, ETH... on the default venue.
    crypto.sort(key=lambda s: (not s.startswith(f"{normalizer.default_exchange}:"), s))
    priority = [f"{normalizer.default_exchange}:{b}-{normalizer.default_quote}"
                for b in ("BTC", "ETH", "SOL", "XRP")]
    chosen = [s for s in priority if s in crypto][:n_crypto]
    chosen += [s for s in crypto if s not in chosen][: n_crypto - len(chosen)]
    out = [(s, "crypto") for s in chosen]
    taken = set(chosen)
    for name in _equity_names(normalizer):
        if len(out) >= count:
            break
        if name not in taken:
            taken.add(name)
            out.append((name, "equity"))
    return out


def _equity_names(normalizer: Normalizer) -> list[str]:
    names = list(_FAMOUS)
    for length in (3, 4):
        for i in range(len(_LETTERS) ** length):
            text = ""
            for _ in range(length):
                i, r = divmod(i, len(_LETTERS))
                text = _LETTERS[r] + text
            names.append(text)
            if len(names) > 60_000:
                break
    return [n for n in names if not normalizer.is_crypto_base(n) and normalizer.normalize(n) == n]


def generate(ch: ClickHouse, settings: Settings, symbols: int, bars: int | None = None,
             seed: int = 42, end: dt.datetime = DEFAULT_END, table: str = TABLE) -> int:
    """Replace the generated symbols' bars with ``symbols × bars`` synthetic bars
    (``bars``: ``default_bars()`` when ``None``).

    Returns the number of rows inserted.
    """
    if symbols < 1:
        raise ValueError("--symbols must be at least 1")
    tiers = layout(bars, end)
    bars = sum(t.count for t in tiers)
    names = symbol_names(symbols, Normalizer.from_settings(settings))
    create_table(ch, table)
    ch.command(f"DELETE FROM {table} WHERE symbol IN {{names:Array(String)}}",
               {"names": [n for n, _ in names]}) if _has_rows(ch, table) else None
    ch.command(_generate_sql(table, tiers), {
        "names": [n for n, _ in names],
        "crypto": [1 if kind == "crypto" else 0 for _, kind in names],
        "seed": seed,
        "bars": bars,
        "n": len(names) * bars,
        "groups": max(1, len(names) // 40),
    })
    return len(names) * bars


#: Returns whose RMS sets the size of an ``extend`` step: the latest hour of minutes.
EXTEND_WINDOW = 60


def extend(ch: ClickHouse, tick: int, seed: int = 42, table: str = TABLE) -> int:
    """One more 1-minute bar for every symbol that has 1-minute bars, a minute after its
    last: a random-walk step from its last close, as large as the RMS of its latest
    ``EXTEND_WINDOW`` one-minute log returns (volume: the last one's, ±30 % lognormal).
    Deterministic per ``seed`` and ``tick`` (``argus demo``'s live market: each tick, one
    minute more, which ``compute`` then reads as any new bar). Returns the bars added."""
    # One bar per symbol that has 1-minute bars (the insert groups by symbol).
    series = int(ch.scalar(f"SELECT uniqExact(symbol) FROM {table} WHERE bar_seconds = 60") or 0)
    ch.command(f"""
INSERT INTO {table} (symbol, ts, bar_seconds, open, high, low, close, volume)
SELECT symbol, last_ts + 60, 60, last_close, greatest(last_close, next_close),
       least(last_close, next_close), next_close, round(last_volume * exp(0.3 * zv), 2)
FROM (
  SELECT symbol, max(ts) AS last_ts, argMax(close, ts) AS last_close,
    argMax(volume, ts) AS last_volume,
    arraySlice(arrayMap(p -> p.2, arraySort(p -> p.1, groupArray((ts, close)))),
               -({EXTEND_WINDOW} + 1)) AS closes,
    arrayPopFront(arrayDifference(arrayMap(c -> log(c), closes))) AS r,
    if(length(r) > 0, sqrt(arrayAvg(arrayMap(x -> x * x, r))), 0.) AS sigma,
    {_normal("symbol, {tick:UInt64}, 'x1'", "symbol, {tick:UInt64}, 'x2'")} AS z,
    {_normal("symbol, {tick:UInt64}, 'v1'", "symbol, {tick:UInt64}, 'v2'")} AS zv,
    last_close * exp(sigma * z) AS next_close
  FROM {table} WHERE bar_seconds = 60 GROUP BY symbol
)""", {"seed": seed, "tick": tick})
    return series


def _has_rows(ch: ClickHouse, table: str) -> bool:
    return bool(ch.scalar(f"SELECT count() > 0 FROM {table}"))


def _generate_sql(table: str, tiers: Sequence[Tier]) -> str:
    # Chronological order inside a symbol: the coarsest (oldest) tier first.
    chrono = list(reversed(tiers))
    starts = [t.end - t.count * t.seconds for t in chrono]
    offsets: list[int] = []
    acc = 0
    for t in chrono:
        offsets.append(acc)
        acc += t.count
    def arr(values: Sequence[int]) -> str:
        return "[" + ",".join(str(v) for v in values) + "]"
    # u(x): a uniform in (0, 1) from a 64-bit hash; g(a, b): a standard normal (Box–Muller).
    return f"""
INSERT INTO {table} (symbol, ts, bar_seconds, open, high, low, close, volume)
WITH
  {arr(offsets)} AS tier_off, {arr(starts)} AS tier_start, {arr([t.seconds for t in chrono])} AS tier_sec
SELECT
  {{names:Array(String)}}[sym + 1] AS symbol,
  toDateTime(tier_start[tier] + (k - tier_off[tier]) * tier_sec[tier], 'UTC') AS ts,
  tier_sec[tier] AS bar_seconds,
  exp(logp - r) AS open,
  greatest(open, exp(logp)) * exp(abs(z3) * sigma * 0.5) AS high,
  least(open, exp(logp)) * exp(-abs(z4) * sigma * 0.5) AS low,
  exp(logp) AS close,
  round(base_volume * (tier_sec[tier] / 60.) * vmult * exp(0.3 * z5) * (1 + abs(z)), 2) AS volume
FROM (
  SELECT *, log(p0) + sum(r) OVER w AS logp
  FROM (
    SELECT *,
      drift * sigma + sigma * (z - theta * lagInFrame(z, 1, 0.) OVER w) AS r
    FROM (
      SELECT
        intDiv(number, {{bars:UInt32}}) AS sym, number % {{bars:UInt32}} AS k,
        arrayLastIndex(o -> o <= k, tier_off) AS tier,
        {{crypto:Array(UInt8)}}[sym + 1] AS is_crypto,
        if(is_crypto, 0, 1 + cityHash64({{seed:UInt64}}, sym, 'group') % {{groups:UInt32}}) AS grp,
        (intDiv(cityHash64({{seed:UInt64}}, sym, 'u'), 2048) + 0.5) / 9007199254740992 AS u_sym,
        (intDiv(cityHash64({{seed:UInt64}}, sym, 'v'), 2048) + 0.5) / 9007199254740992 AS v_sym,
        if(is_crypto, 0.55 + 0.5 * u_sym, 0.15 + 0.35 * u_sym) AS vol_ann,
        0.5 + 0.45 * v_sym AS loading,
        exp(log(5) + log(100) * u_sym) AS p0,
        if(is_crypto, 1e6, 1e5) * (0.2 + v_sym) AS base_volume,
        intDiv(k + cityHash64({{seed:UInt64}}, sym, 'seg') % 40, 40) AS seg,
        cityHash64({{seed:UInt64}}, sym, seg, 'regime') % 10 AS state,
        multiIf(state < 3, 0.3, state < 6, -0.3, 0.) AS drift,
        if(state >= 6, 0.8, 0.) AS theta,
        intDiv(k + cityHash64({{seed:UInt64}}, sym, 'blk') % 12, 12) AS blk,
        exp(0.35 * {_normal("sym, blk, 'vb1'", "sym, blk, 'vb2'")})
          * if(cityHash64({{seed:UInt64}}, sym, blk, 'burst') % 25 = 0, 3., 1.) AS vmult,
        vol_ann * vmult * sqrt(tier_sec[tier] / 31557600.) AS sigma,
        {_normal("grp, k, 'f1'", "grp, k, 'f2'")} AS zf,
        {_normal("sym, k, 'e1'", "sym, k, 'e2'")} AS ze,
        loading * zf + sqrt(1 - loading * loading) * ze AS z,
        {_normal("sym, k, 'h1'", "sym, k, 'h2'")} AS z3,
        {_normal("sym, k, 'l1'", "sym, k, 'l2'")} AS z4,
        {_normal("sym, k, 'q1'", "sym, k, 'q2'")} AS z5
      FROM numbers({{n:UInt64}})
      WINDOW w AS (PARTITION BY sym ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
    WINDOW w AS (PARTITION BY sym ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
  )
  WINDOW w AS (PARTITION BY sym ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SETTINGS max_block_size = 65536
"""


def _normal(a: str, b: str) -> str:
    u1 = f"((intDiv(cityHash64({{seed:UInt64}}, {a}), 2048) + 0.5) / 9007199254740992)"
    u2 = f"((intDiv(cityHash64({{seed:UInt64}}, {b}), 2048) + 0.5) / 9007199254740992)"
    return f"(sqrt(-2 * log({u1})) * cos(2 * pi() * {u2}))"
