"""A least-recently-used cache bounded by bytes as well as by entries.

Every in-process cache of what callers send (parsed documents, validation results,
compiled shapes, cache hints, persisted query texts) is one of these. Bounded by count
alone, forty distinct 4 MB queries kept about twice their size for good. Each entry's size
is an estimate given by whoever stores it (``document_bytes`` for what holds a parsed
document); an entry above ``max_entry_bytes`` is not kept at all, so one huge document can
neither be remembered nor flush the hot small ones.

With ``admit_on_reuse`` an entry larger than a quarter of ``max_entry_bytes``, or one put on
``probation`` (a parse error, a failed validation), is kept only the second time its key is
stored (TinyLFU's "doorkeeper"); other small ones, such as every dashboard and Apex
document, are kept at once. A stream of distinct documents, each sent once, as a hostile
caller sends them, then neither grows the cache's resident memory past what its small
valid entries hold nor evicts the hot entries (30 KB texts that are not GraphQL, each with
a new suffix, used to fill the parse cache's 8 MiB). The doorkeeper remembers the hashes
of the last ``4 × max_entries`` keys it turned away, a few hundred kilobytes.

Hand-written rather than ``cachetools.LRUCache(getsizeof=...)``: that sizes values only
(our keys are the query texts), has no count bound beside the byte bound, and raises on an
entry that is too large where we want to skip it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from graphql import DocumentNode, GraphQLError, Token

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")

#: Bytes a parsed document holds per lexical token, measured with tracemalloc on
#: graphql-core 3.3 with locations kept (the token list stays linked from the document):
#: 608 for 20,000 bare fields, 359 for aliased fields with arguments, 414 for a list of
#: 20,000 strings. Rounded up so the estimate never undercounts.
BYTES_PER_TOKEN = 700
#: Per-entry overhead of the cache's own bookkeeping (OrderedDict node, tuple, key object)
#: and of a small value: measured with tracemalloc at about 350 bytes for a validation
#: verdict keyed by its query and variables' shape (``tests/data/test_caches.py``).
ENTRY_OVERHEAD = 400


class BoundedCache(Generic[K, V]):
    """At most ``max_entries`` entries and ``max_bytes`` estimated bytes, oldest out first."""

    def __init__(self, max_bytes: int, max_entries: int = 1024,
                 max_entry_bytes: int | None = None, *, admit_on_reuse: bool = False) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        # A sixteenth by default: a cache keeps room for at least 16 of its largest entries.
        self.max_entry_bytes = max_bytes // 16 if max_entry_bytes is None else max_entry_bytes
        self.bytes = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._doorkeeper: OrderedDict[int, None] | None = OrderedDict() if admit_on_reuse else None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, size: int, *, probation: bool = False) -> bool:
        """Remember ``value`` under ``key`` (``size`` estimated bytes); False when too large,
        or not yet admitted. ``probation``: the doorkeeper applies whatever the size (a
        refusal, which junk sent once produces as often as it likes)."""
        size += ENTRY_OVERHEAD
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        if size > self.max_entry_bytes:
            return False
        doorkeeper = self._doorkeeper
        if (doorkeeper is not None and old is None
                and (probation or size > self.max_entry_bytes // 4)):
            seen = hash(key)
            if doorkeeper.pop(seen, False) is False:  # first time: remember the key only
                doorkeeper[seen] = None
                if len(doorkeeper) > 4 * self.max_entries:
                    doorkeeper.popitem(last=False)
                return False
        self._entries[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes or len(self._entries) > self.max_entries:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.bytes -= evicted
        return True

    def clear(self) -> None:
        self._entries.clear()
        if self._doorkeeper is not None:
            self._doorkeeper.clear()
        self.bytes = 0


def memoize(fn: Callable[..., R], cache: BoundedCache[Any, R], size: Callable[[R], int],
            probation: Callable[[R], bool] | None = None) -> Callable[..., R]:
    """``fn`` remembered in ``cache`` by its arguments (``functools.lru_cache``'s use); an
    entry's size is ``size(result)``, which counts the text it was computed from; a result
    for which ``probation(result)`` holds is kept only from its second use."""
    def cached(*args: Any) -> R:
        key = args[0] if len(args) == 1 else args
        hit = cache.get(key)
        if hit is not None:
            return hit
        result = fn(*args)
        cache.put(key, result, size(result),
                  probation=probation is not None and probation(result))
        return result

    cached.cache = cache  # type: ignore[attr-defined]
    return cached


def document_bytes(document: DocumentNode | GraphQLError | None) -> int:
    """What a parsed document (or a parse error) holds: its source and its tokens."""
    if isinstance(document, DocumentNode) and document.loc is not None:
        source = len(document.loc.source.body)
        tokens = 0
        token: Token | None = document.loc.start_token
        while token is not None:
            tokens += 1
            token = token.next
        # Twice the source: a string's or a comment's token holds a copy of its text.
        return 2 * source + BYTES_PER_TOKEN * tokens
    if isinstance(document, GraphQLError):
        # A parse error keeps its source; the parser's tokens go with the traceback, which
        # the parse cache drops (it held ~28 MB for a refused 1.2 MB document).
        return len(document.source.body) if document.source else 0
    return 0
