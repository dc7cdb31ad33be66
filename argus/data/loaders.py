"""Per-request loaders: every symbol one level of a query touches, in two Redis rounds.

``IntelligenceBySymbolLoader`` batches every ``load((symbol, needs))`` issued in the same
event-loop tick (one query level: the root list, or every partner of every correlation)
into one discovery round (``Store.discover``) and one fetch round (``Store.fetch``) that
asks only for the namespaces the query selected. Symbols the request has already loaded
are served from memory, never fetched twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiodataloader import DataLoader

from argus import keys
from argus.data.namespaces import NAMESPACES
from argus.data.namespaces.correlations import CorrelationValue
from argus.data.namespaces.novelty import NoveltyValue
from argus.data.namespaces.regime import RegimeItem, RegimeValue, regime_values
from argus.data.store import Command, Store, SymbolIndex
from argus.keys import Namespace
from argus.settings import Settings

Needs = frozenset[Namespace]
ALL_NEEDS: Needs = frozenset(keys.NAMESPACES)


@dataclass(slots=True)
class SymbolData:
    """What the request knows of one symbol. ``None`` in a namespace means absent."""

    index: SymbolIndex
    loaded: set[Namespace] = field(default_factory=set)
    #: The present regime hashes, checked but not parsed (``RegimeValue`` objects are made
    #: on first read of ``regimes``; the compiled path reads the items themselves).
    regime_items: list[RegimeItem] | None = None
    novelty: NoveltyValue | None = None
    correlations: list[CorrelationValue] | None = None
    #: When the regime hashes were read: their age is measured from it.
    read_at: float = 0.0
    _regimes: list[RegimeValue] | None = field(default=None, repr=False, compare=False)

    @property
    def symbol(self) -> str:
        return self.index.symbol

    @property
    def regimes(self) -> list[RegimeValue] | None:
        if self._regimes is None and self.regime_items is not None:
            self._regimes = regime_values(self.regime_items, self.read_at)
        return self._regimes

    @property
    def exists(self) -> bool:
        """Any data at all. The index decides, unless every namespace it lists was read and
        came back empty (all its keys expired since): then nothing exists."""
        index = self.index
        listed: set[Namespace] = set()
        if index.timeframes:
            listed.add("regime")
        if index.novelty:
            listed.add("novelty")
        if index.partners:
            listed.add("corr")
        if not listed:
            return False
        if not listed <= self.loaded:
            return True
        return any(v is not None for v in (self.regime_items, self.novelty, self.correlations))


# Bound once: the loaders call these per symbol (1,000 for Apex).
_COMMANDS = tuple((namespace.NAME, namespace.commands) for namespace in NAMESPACES)
_READS = tuple((namespace.NAME, namespace.read) for namespace in NAMESPACES)


def commands_for(index: SymbolIndex, needs: Iterable[Namespace]) -> list[Command]:
    """The fetch commands of one symbol's selected namespaces, in namespace order."""
    out: list[Command] = []
    wanted = needs if isinstance(needs, frozenset) else frozenset(needs)
    for name, commands in _COMMANDS:
        if name in wanted:
            out += commands(index)
    return out


def absorb(data: SymbolData, missing: frozenset[Namespace], replies: Sequence[object],
           settings: Settings, now: float) -> None:
    """Parse the replies of ``commands_for(data.index, missing)`` into ``data``; ``missing``
    holds namespaces ``data`` has not loaded yet."""
    index, pos = data.index, 0
    for name, read in _READS:
        if name in missing:
            pos += read(data, index, replies[pos:] if pos else replies, settings, now)
    data.loaded |= missing


class IntelligenceBySymbolLoader(DataLoader):  # type: ignore[type-arg]
    def __init__(self, store: Store, settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        #: When replies were read (the age of a value); tests pass a fixed one.
        self.clock = clock
        self.known: dict[str, SymbolData] = {}
        self.indexes: dict[str, SymbolIndex] = {}

    async def load_level(self, requests: Sequence[tuple[str, Needs]]) -> list[SymbolData]:
        """``load_many`` for a caller that holds a whole query level at once: the same two
        rounds, without an event-loop turn to collect loads or a future per symbol."""
        return await self.batch_load_fn(requests)

    async def batch_load_fn(self, requests: Sequence[tuple[str, Needs]]) -> list[SymbolData]:
        # Per symbol, no set arithmetic unless a symbol repeats or was loaded before: Apex
        # asks for 1,000 symbols with the same needs.
        wanted: dict[str, frozenset[Namespace]] = {}
        for symbol, needs in requests:
            before = wanted.get(symbol)
            wanted[symbol] = needs if before is None else before | needs
        known, indexes = self.known, self.indexes
        async with self.store.lease() as lease:  # both rounds on one pooled connection
            unknown = [s for s in wanted if s not in indexes]
            for index in await self.store.discover(unknown, lease):
                indexes[index.symbol] = index
            plan: list[tuple[SymbolData, frozenset[Namespace], int]] = []
            commands: list[Command] = []
            for symbol, needs in wanted.items():
                data = known.get(symbol)
                if data is None:
                    data = known[symbol] = SymbolData(indexes[symbol])
                    missing = needs
                else:
                    missing = needs - data.loaded
                batch = commands_for(data.index, missing)
                plan.append((data, missing, len(batch)))
                commands.extend(batch)
            replies = await self.store.fetch(commands, lease)
        now, pos = self.clock(), 0
        for data, missing, count in plan:
            absorb(data, missing, replies[pos:pos + count], self.settings, now)
            pos += count
        return [known[symbol] for symbol, _ in requests]
