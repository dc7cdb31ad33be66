"""The symbol loader: one query level is one discovery and one fetch, answered in key order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import orjson
import pytest

from argus import keys
from argus.data.loaders import IntelligenceBySymbolLoader, Needs
from argus.data.store import Command, Store, SymbolIndex
from argus.errors import ServiceUnavailable
from argus.settings import Settings

REGIME: Needs = frozenset({"regime"})
NOVELTY: Needs = frozenset({"novelty"})
BOTH: Needs = frozenset({"regime", "novelty"})


class FakeStore:
    """The two rounds a loader makes, recorded; keys as ``idx:{SYM}`` would list them."""

    def __init__(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data  # symbol → {key name: reply}
        self.discovered: list[list[str]] = []
        self.fetched: list[list[Command]] = []
        self.leases = 0
        self.failure: Exception | None = None

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[None]:
        self.leases += 1
        yield None

    async def discover(self, symbols: Sequence[str], lease: object = None) -> list[SymbolIndex]:
        self.discovered.append(list(symbols))
        # Deliberately in another order than asked: the loader must not rely on it.
        return [SymbolIndex.from_keys(s, list(self.data.get(s, {}))) for s in reversed(symbols)]

    async def fetch(self, commands: Sequence[Command], lease: object = None) -> list[Any]:
        self.fetched.append(list(commands))
        if self.failure is not None:
            raise self.failure
        replies = {name: reply for stored in self.data.values() for name, reply in stored.items()}
        return [replies.get(name) for _, name in commands]


def stored(symbol: str, computed_at: float = 100.0) -> dict[str, Any]:
    return {
        keys.regime(symbol, "1h"): [b"regime", b"trending", b"confidence", b"0.5",
                                    b"computed_at", str(computed_at).encode()],
        keys.novelty(symbol): orjson.dumps({"score": 0.25, "computed_at": computed_at}),
    }


@pytest.fixture
def store() -> FakeStore:
    return FakeStore({"BTC": stored("BTC"), "ETH": stored("ETH"), "SOL": stored("SOL")})


def loader_over(store: FakeStore, clock: float = 130.0) -> IntelligenceBySymbolLoader:
    return IntelligenceBySymbolLoader(cast(Store, store), Settings.from_env({}), lambda: clock)


async def test_loads_of_one_tick_are_one_discovery_and_one_fetch(store: FakeStore) -> None:
    loader = loader_over(store)
    await asyncio.gather(*(loader.load((s, REGIME)) for s in ("BTC", "ETH", "SOL")))
    assert store.discovered == [["BTC", "ETH", "SOL"]]
    assert store.fetched == [[("HGETALL", keys.regime(s, "1h")) for s in ("BTC", "ETH", "SOL")]]
    assert store.leases == 1  # both rounds on one connection


async def test_results_come_in_key_order(store: FakeStore) -> None:
    loader = loader_over(store)
    found = await loader.load_level([("SOL", REGIME), ("BTC", REGIME), ("ETH", REGIME)])
    assert [d.symbol for d in found] == ["SOL", "BTC", "ETH"]


async def test_only_the_selected_namespaces_are_fetched(store: FakeStore) -> None:
    loader = loader_over(store)
    [data] = await loader.load_level([("BTC", NOVELTY)])
    assert store.fetched == [[("GET", keys.novelty("BTC"))]]
    assert data.novelty is not None and data.novelty.score == 0.25
    assert data.regime_items is None


async def test_one_symbol_asked_twice_is_fetched_once_for_both_needs(store: FakeStore) -> None:
    loader = loader_over(store)
    first, second = await loader.load_level([("BTC", REGIME), ("BTC", NOVELTY)])
    assert first is second
    assert store.fetched == [[("HGETALL", keys.regime("BTC", "1h")), ("GET", keys.novelty("BTC"))]]


async def test_a_later_level_fetches_only_what_is_not_loaded_yet(store: FakeStore) -> None:
    loader = loader_over(store)
    await loader.load_level([("BTC", REGIME)])
    await loader.load_level([("BTC", BOTH)])
    assert store.discovered == [["BTC"], []]  # the index is known from the first level
    assert store.fetched[1] == [("GET", keys.novelty("BTC"))]


async def test_a_symbol_without_data_does_not_exist_and_leaves_the_others_alone(
        store: FakeStore) -> None:
    loader = loader_over(store)
    missing, btc = await loader.load_level([("NOPE", BOTH), ("BTC", BOTH)])
    assert not missing.exists
    assert btc.exists and btc.regimes is not None and btc.regimes[0].label == "trending"


async def test_ages_are_measured_from_the_injected_clock(store: FakeStore) -> None:
    [data] = await loader_over(store, clock=130.0).load_level([("BTC", BOTH)])
    assert data.read_at == 130.0
    assert data.regimes is not None and data.regimes[0].freshness.age_seconds == 30.0


async def test_a_failed_round_fails_every_load_of_its_batch(store: FakeStore) -> None:
    store.failure = ServiceUnavailable()
    loader = loader_over(store)
    results = await asyncio.gather(loader.load(("BTC", REGIME)), loader.load(("ETH", REGIME)),
                                   return_exceptions=True)
    assert [type(r) for r in results] == [ServiceUnavailable, ServiceUnavailable]
