"""Root resolvers: normalize input, plan the selection, load every symbol in one batch.

They take the request's context and the selection's plan, not Strawberry's ``Info``: the
Strawberry root fields (``graphql.schema``) compute the plan from their ``Info``, the
compiled path (``graphql.compiled``) from its shape, and both call these same functions,
so both paths share every step and its order.

Everything that can be refused is refused before the loader runs, so bad input never
reaches Redis. ``symbols`` answers one entry per input in order; an invalid or unknown
entry is ``null`` with its own error at its path (an exception instance in the list is
what graphql-core turns into a located field error), and the rest still resolves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from argus.data.events import EventFeed, Subscriber
from argus.data.loaders import IntelligenceBySymbolLoader
from argus.errors import BadUserInput, InvalidSymbol, symbol_not_found
from argus.graphql.selection import Plan
from argus.graphql.types import RegimeChange, Symbol, Timeframe
from argus.symbols import Normalizer

#: A plan, or how to compute it: computed after the input is normalized, so that a bad
#: symbol is reported before a bad ``correlations`` argument, whichever path runs.
Planned = Plan | Callable[[], Plan]


class RootContext(Protocol):
    """What the root resolvers read of the request's context (``http.context.Context``)."""

    @property
    def normalizer(self) -> Normalizer: ...
    @property
    def intelligence(self) -> IntelligenceBySymbolLoader: ...


class SubscriptionContext(Protocol):
    """What ``regime_changes`` reads of the subscription's context."""

    @property
    def normalizer(self) -> Normalizer: ...
    @property
    def events(self) -> EventFeed: ...


async def resolve_symbol(context: RootContext, plan: Planned, symbol: str, *,
                         whole_level: bool = False) -> Symbol | None:
    """``whole_level``: the caller holds the query level's only root field (the compiled
    path), so it loads it at once, without the dataloader's event-loop turn to collect
    loads and its future per symbol (1,000 of them for Apex)."""
    loader = context.intelligence
    load = loader.load_level if whole_level else loader.load_many
    canonical = context.normalizer.normalize(symbol)
    plan = plan if isinstance(plan, Plan) else plan()
    [data] = await load([(canonical, plan.needs)])
    if not data.exists:
        raise symbol_not_found(canonical)
    return Symbol(symbol=canonical, input=symbol, data=data, plan=plan)


async def resolve_symbols(context: RootContext, plan: Planned, symbols: list[str], *,
                          whole_level: bool = False) -> list[Symbol | None]:
    loader = context.intelligence
    load = loader.load_level if whole_level else loader.load_many
    normalized = context.normalizer.normalize_many(symbols)
    plan = plan if isinstance(plan, Plan) else plan()
    valid = [c for c in normalized if isinstance(c, str)]
    loaded = await load([(c, plan.needs) for c in valid])
    by_symbol = {data.symbol: data for data in loaded}
    out: list[Any] = []
    for raw, canonical in zip(symbols, normalized, strict=True):
        if isinstance(canonical, InvalidSymbol):
            out.append(canonical)
            continue
        data = by_symbol[canonical]
        if data.exists:
            out.append(Symbol(symbol=canonical, input=raw, data=data, plan=plan))
        else:
            out.append(symbol_not_found(canonical))
    return out


async def regime_changes(context: SubscriptionContext, symbols: list[str],
                         timeframes: list[Timeframe] | None,
                         after: str | None) -> RegimeChanges:
    """The source stream of ``Subscription.regimeChanges``. Everything that can be refused is
    refused here, before the stream is returned (so as an error of the subscription, not
    of an event): no symbol, a symbol that fails normalization (the first one), an empty
    ``timeframes``, a bad or too old ``after``, Redis down."""
    if not symbols:
        raise BadUserInput("`symbols` must name at least one symbol.", argument="symbols")
    if timeframes is not None and not timeframes:
        raise BadUserInput("`timeframes` must name at least one timeframe, or be left out "
                           "for all of them.", argument="timeframes")
    canonical: list[str] = []
    for normalized in context.normalizer.normalize_many(symbols):
        if isinstance(normalized, InvalidSymbol):
            raise normalized
        canonical.append(normalized)
    subscriber = await context.events.subscribe(
        canonical, None if timeframes is None else [tf.value for tf in timeframes], after)
    return RegimeChanges(subscriber)


class RegimeChanges:
    """The source stream of ``regimeChanges``: the subscriber's events as ``RegimeChange``s.
    ``ready()`` gives the next one already queued, without waiting (``engine._results``
    starts a burst's executions with it, together, instead of a task and a wake-up each)."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self._events = subscriber.events()

    def __aiter__(self) -> RegimeChanges:
        return self

    async def __anext__(self) -> RegimeChange:
        return RegimeChange.of(await anext(self._events))

    def ready(self) -> RegimeChange | None:
        event = self.subscriber.ready()
        return None if event is None else RegimeChange.of(event)

    async def aclose(self) -> None:
        await self._events.aclose()  # type: ignore[attr-defined]
        self.subscriber.close()  # also when ``events`` never started (every event was ready)
