"""TTL remediation: ``argus ttl audit`` and ``argus ttl fix`` (``docs/contract/clarifications.md`` §10).

Both walk exactly the contract's namespaces — ``keys.CONTRACT_PATTERNS`` with ``SCAN MATCH``
plus the two singletons ``argus:events`` and ``argus:symbols`` — and nothing else.

``fix`` sends ``EXPIRE key ttl NX`` in pipelines, so a key that already has a TTL keeps
it exactly (never lengthened, never shortened), and running it again, or after an
interruption, only touches what is still TTL-less: it is idempotent and resumable. Data
keys come first, then indexes: a TTL-less index gets the longest TTL among its members
(``--ttl`` when none of them has one or exists), so it outlives what it lists. It ends
with an audit pass and reports how many TTL-less keys remain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from argus import keys
from argus.data.store import SyncClient
from argus.errors import map_redis_errors

SCAN_COUNT = 5_000
PIPELINE = 5_000
_INDEX_PATTERN = keys.CONTRACT_PATTERNS[-1]
assert _INDEX_PATTERN.startswith("idx:")


@dataclass(slots=True)
class FixReport:
    scanned: int = 0
    fixed: int = 0
    remaining: int = 0


def _batches(client: SyncClient, pattern: str) -> Iterator[list[bytes]]:
    """Every key of ``pattern``, in lists of up to ``PIPELINE``; singletons as themselves.

    ``scan_iter`` walks every primary when the client is a Redis Cluster client.
    """
    if pattern in keys.CONTRACT_SINGLETONS:
        yield [pattern.encode()]
        return
    pending: list[bytes] = []
    for name in client.scan_iter(match=pattern, count=SCAN_COUNT):
        pending.append(name if isinstance(name, bytes) else name.encode())
        if len(pending) >= PIPELINE:
            yield pending
            pending = []
    if pending:
        yield pending


def _without_ttl(client: SyncClient, names: list[bytes]) -> list[bytes]:
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.ttl(name)
    return [n for n, t in zip(names, pipe.execute(), strict=True) if t == -1]


def audit(client: SyncClient, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """TTL-less keys per contract pattern (singletons by name)."""
    counts: dict[str, int] = {}
    with map_redis_errors():
        for pattern in (*keys.CONTRACT_PATTERNS, *keys.CONTRACT_SINGLETONS):
            counts[pattern] = 0
            for names in _batches(client, pattern):
                counts[pattern] += len(_without_ttl(client, names))
                if progress:
                    progress(len(names))
    return counts


def fix(client: SyncClient, ttl: int,
        progress: Callable[[int], None] | None = None) -> FixReport:
    report = FixReport()
    data_patterns = [p for p in keys.CONTRACT_PATTERNS if p != _INDEX_PATTERN]
    with map_redis_errors():
        for pattern in (*data_patterns, *keys.CONTRACT_SINGLETONS):
            for names in _batches(client, pattern):
                report.scanned += len(names)
                pipe = client.pipeline(transaction=False)
                for name in names:
                    pipe.expire(name, ttl, nx=True)
                report.fixed += sum(1 for ok in pipe.execute() if ok)
                if progress:
                    progress(len(names))
        for names in _batches(client, _INDEX_PATTERN):
            report.scanned += len(names)
            report.fixed += _fix_indexes(client, _without_ttl(client, names), ttl)
            if progress:
                progress(len(names))
        report.remaining = sum(audit(client).values())
    return report


def _fix_indexes(client: SyncClient, indexes: list[bytes], ttl: int) -> int:
    if not indexes:
        return 0
    pipe = client.pipeline(transaction=False)
    for name in indexes:
        pipe.smembers(name)
    # A foreign writer may have left an ``idx:`` key of another type: treat it as empty.
    members = [m if isinstance(m, set) else set() for m in pipe.execute(raise_on_error=False)]
    pipe = client.pipeline(transaction=False)
    for group in members:
        for member in group:
            pipe.pttl(member)
    pttls = iter(pipe.execute() if any(members) else [])
    pipe = client.pipeline(transaction=False)
    for name, group in zip(indexes, members, strict=True):
        longest = max((next(pttls) for _ in group), default=-2)
        # Seconds, rounded up, so the index never expires before its longest member.
        seconds = -(-longest // 1000) if longest > 0 else ttl
        pipe.expire(name, seconds, nx=True)
    return sum(1 for ok in pipe.execute() if ok)
