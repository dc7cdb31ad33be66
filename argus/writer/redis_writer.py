"""Writing computed signals to Redis: one Lua script per symbol, atomic with its TTLs.

Why a script and not MULTI/EXEC: the script reads the stored label, writes every value with
its TTL, deletes what is no longer produced and rewrites the index in one atomic step on
the server (cluster-safe: a symbol's keys share the ``{SYM}`` slot), whereas redis-py
pipelines cannot interleave one MULTI per symbol and the label comparison would cost a
round trip.

Per symbol the script (``docs/contract/clarifications.md`` §1):

1. for each regime hash: reads the stored ``regime`` label, replaces the hash with the
   field/value pairs passed (``regime`` first, then ``argus.data.namespaces.regime.FIELDS``,
   then ``computed_at``: ``_regime_pairs``), sets its TTL;
2. ``SET … EX`` the novelty and correlation JSONs;
3. deletes the symbol's keys that are no longer produced: the regime keys of timeframes
   without data (passed explicitly) and any old index member not rewritten now (dropped
   correlation partners, vanished timeframes), but only members carrying the symbol's own
   hash tag, so a corrupt index cannot make it touch another slot;
4. replaces ``idx:{SYM}`` with exactly the keys written, TTL set last (so ≥ theirs);
5. returns the label changes.

Scripts go out ``write_batch`` at a time through a non-transactional pipeline (EVALSHA;
redis-py loads the script once if the server lacks it). After each batch a separate step
appends the changes to ``argus:events`` (XADD MAXLEN ~) and adds the batch's symbols to
``argus:symbols``, each in its own MULTI/EXEC with its TTL, so neither can exist without one.

A stop request (``stop``, asked after each batch is published) ends the write between
batches: the batches sent are whole and published, the rest are not begun.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from argus import keys
from argus.data.namespaces import Fields, regime
from argus.data.store import SyncClient, create_sync_client
from argus.errors import map_redis_errors
from argus.settings import Settings
from argus.symbols import Normalizer
from argus.writer.compute import SymbolOutput

WRITE_SYMBOL = """
local ttl = tonumber(ARGV[1])
local nr, nv, na = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local idx = KEYS[1]
local tag = string.sub(idx, 5)
local keep, names, changes = {}, {}, {}
local k, a = 2, 5
for i = 1, nr do
  -- ARGV[a]: the hash's field count n, then n field/value pairs, 'regime' and its label first
  local key, n, label = KEYS[k], tonumber(ARGV[a]), ARGV[a + 2]
  local prev = redis.call('HGET', key, 'regime')
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(ARGV, a + 1, a + 2 * n))
  redis.call('EXPIRE', key, ttl)
  if prev ~= label then
    changes[#changes + 1] = i
    changes[#changes + 1] = label
    changes[#changes + 1] = prev or ''
  end
  keep[key] = true
  names[#names + 1] = key
  k, a = k + 1, a + 1 + 2 * n
end
for i = 1, nv do
  redis.call('SET', KEYS[k], ARGV[a], 'EX', ttl)
  keep[KEYS[k]] = true
  names[#names + 1] = KEYS[k]
  k, a = k + 1, a + 1
end
for i = 1, na do
  redis.call('DEL', KEYS[k])
  k = k + 1
end
for _, member in ipairs(redis.call('SMEMBERS', idx)) do
  if not keep[member] and string.find(member, tag, 1, true) then
    redis.call('DEL', member)
  end
end
redis.call('DEL', idx)
if #names > 0 then
  redis.call('SADD', idx, unpack(names))
  redis.call('EXPIRE', idx, ttl)
end
return changes
"""


@dataclass(frozen=True, slots=True)
class Change:
    symbol: str
    timeframe: str
    label: str
    previous: str
    computed_at: str


@dataclass(slots=True)
class WriteReport:
    symbols: int = 0
    keys: int = 0
    changes: list[Change] = field(default_factory=list)
    stopped: bool = False  # a stop request ended the write before every batch was sent


def connect(settings: Settings) -> SyncClient:
    # A write round carries a whole batch, and the writer may start before Redis is up.
    return create_sync_client(settings, socket_timeout=settings.write_timeout,
                              connect_timeout=max(settings.redis_connect_timeout, 2.0))


def _regime_pairs(h: Mapping[str, str], fields: Fields = regime.FIELDS) -> list[str]:
    """One hash's field/value pairs as the script writes them: the label first (the script
    compares it with the stored one), then ``fields``, then the time. A required field must
    be computed; an optional one the computation left out is stored as ``""`` (read back as
    ``null``)."""
    pairs = [regime.LABEL, h[regime.LABEL]]
    for f in fields:
        pairs += (f.name, h[f.name] if f.required else h.get(f.name, ""))
    pairs += (regime.COMPUTED_AT, h[regime.COMPUTED_AT])
    return pairs


def _script_call(out: SymbolOutput, ttl: int) -> tuple[list[str], list[Any]]:
    tfs = [tf for tf in keys.TIMEFRAMES if tf in out.regimes]
    values = ([keys.novelty(out.symbol)] if out.novelty is not None else []) + [
        keys.corr(out.symbol, p) for p in sorted(out.correlations)]
    absent = [keys.regime(out.symbol, tf) for tf in keys.TIMEFRAMES if tf not in out.regimes]
    if out.novelty is None:
        absent.append(keys.novelty(out.symbol))
    names = [keys.index(out.symbol), *(keys.regime(out.symbol, tf) for tf in tfs), *values,
             *absent]
    args: list[Any] = [ttl, len(tfs), len(values), len(absent)]
    for tf in tfs:
        pairs = _regime_pairs(out.regimes[tf])
        args += [len(pairs) // 2, *pairs]
    if out.novelty is not None:
        args.append(out.novelty)
    args += [out.correlations[p] for p in sorted(out.correlations)]
    return names, args


class RedisWriter:
    def __init__(self, client: SyncClient, settings: Settings,
                 kinds: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.settings = settings
        self.kinds = dict(kinds or {})
        self.ttl = settings.ttl
        self.normalizer = Normalizer.from_settings(settings)
        self.script = client.register_script(WRITE_SYMBOL)
        self.cluster = not isinstance(client, redis.Redis)
        if self.cluster:
            # redis-py blocks Script objects in cluster pipelines and loads nothing on
            # demand there: load the script on every primary and send raw EVALSHA.
            with map_redis_errors(settings.retry_after):
                client.script_load(WRITE_SYMBOL)

    def write(self, outputs: Sequence[SymbolOutput],
              advance: Callable[[int], None] | None = None,
              stop: Callable[[], bool] | None = None) -> WriteReport:
        report = WriteReport()
        size = max(1, self.settings.write_batch)
        with map_redis_errors(self.settings.retry_after):
            for start in range(0, len(outputs), size):
                if stop is not None and stop():
                    # Between batches only: each sent batch is whole and its events and
                    # argus:symbols step has run, so stopping here loses nothing written.
                    report.stopped = True
                    break
                batch = outputs[start:start + size]
                changes = self._write_batch(batch)
                self._publish(batch, changes)
                report.symbols += len(batch)
                report.keys += sum(o.key_count + (1 if o.key_count else 0) for o in batch)
                report.changes += changes
                if advance:
                    advance(len(batch))
        return report

    def _write_batch(self, batch: Sequence[SymbolOutput]) -> list[Change]:
        pipe = self.client.pipeline(transaction=False)
        for out in batch:
            names, args = _script_call(out, self.ttl)
            if self.cluster:
                pipe.execute_command(
                    "EVALSHA", self.script.sha, len(names), *names, *args)
            else:
                self.script(keys=names, args=args, client=pipe)
        replies = pipe.execute()
        changes: list[Change] = []
        for out, reply in zip(batch, replies, strict=True):
            tfs = [tf for tf in keys.TIMEFRAMES if tf in out.regimes]
            for j in range(0, len(reply), 3):
                tf = tfs[int(reply[j]) - 1]
                changes.append(Change(out.symbol, tf, keys.text(reply[j + 1]), keys.text(reply[j + 2]),
                                      out.regimes[tf]["computed_at"]))
        return changes

    def _publish(self, batch: Sequence[SymbolOutput], changes: Iterable[Change]) -> None:
        changes = list(changes)
        if changes:
            pipe = self.client.pipeline(transaction=True)
            for c in changes:
                pipe.xadd(keys.EVENTS, {"kind": "regime", "symbol": c.symbol, "tf": c.timeframe,
                                        "label": c.label, "previous": c.previous,
                                        "computed_at": c.computed_at},
                          maxlen=keys.EVENTS_MAXLEN, approximate=True)
            pipe.expire(keys.EVENTS, self.ttl)
            pipe.execute()
        written = {o.symbol: self.kind(o.symbol) for o in batch if o.key_count}
        if written:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(keys.UNIVERSE, mapping=dict(written.items()))
            pipe.expire(keys.UNIVERSE, self.ttl)
            pipe.execute()


    def kind(self, symbol: str) -> str:
        """The class the import was given, else ``crypto`` for an ``EXCHANGE:BASE-QUOTE``
        pair of a crypto base, else ``equity``."""
        if symbol in self.kinds:
            return self.kinds[symbol]
        _, colon, pair = symbol.partition(":")
        base, dash, _ = pair.partition("-")
        crypto = bool(colon and dash and self.normalizer.is_crypto_base(base))
        return "crypto" if crypto else "equity"
