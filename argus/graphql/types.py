"""GraphQL object types of ``docs/contract/api.md``: Symbol, Regime, Novelty, Correlation,
and the subscription's RegimeChange.

Leaf fields are plain attributes built in one step from parsed values; only ``Symbol``'s
three namespaces have resolvers, and they stay synchronous when the symbol's data is
already loaded (the root level). A correlation partner is loaded lazily: its resolvers
return the loader's awaitable, so every partner of one level shares one batch.

The leaf fields of each namespace's ``FIELDS`` (``argus.data.namespaces``) are not written
here: ``_with_fields`` inserts them into the class before ``strawberry.type`` reads it, in
their declared order and with their descriptions. The classes declare what is not a plain
field (a regime's timeframe and label, the time and freshness of a value, a partner).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import strawberry
from strawberry.types import Info

from argus import keys
from argus.data.events import Event
from argus.data.loaders import SymbolData
from argus.data.namespaces import Fields, Kind, correlations, novelty, regime
from argus.data.namespaces.correlations import chosen
from argus.data.namespaces.novelty import NoveltyValue
from argus.data.namespaces.regime import RegimeValue
from argus.graphql._strawberry_compat import plan_of
from argus.graphql.selection import EMPTY_PLAN, Plan

Timeframe = keys.Timeframe
# Registers the keyspace's enum as the GraphQL enum (in place), names M1 … MN1.
strawberry.enum(Timeframe, description="Regime timeframes; keys use 1m 5m 15m 1h 4h 1d 1w 1M.")


def _timestamp(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


_T = TypeVar("_T")
_ANNOTATIONS: dict[Kind, str] = {"number": "float", "text": "str", "integer": "int"}


def _with_fields(fields: Fields, after: str | None = None) -> Callable[[type[_T]], type[_T]]:
    """A class decorator (under ``strawberry.type``) inserting an attribute per field of
    ``fields`` after the class's own ``after`` (first when ``None``): its stored name (the
    GraphQL name is Strawberry's camel case of it, as ``Field.graphql``), its type by kind,
    nullable unless required, its description."""

    def insert(cls: type[_T]) -> type[_T]:
        own = list(inspect.get_annotations(cls).items())
        at = 0 if after is None else [name for name, _ in own].index(after) + 1
        added: list[tuple[str, str]] = []
        for f in fields:
            kind = _ANNOTATIONS[f.kind]
            added.append((f.name, kind if f.required else f"{kind} | None"))
            if f.description is not None:
                setattr(cls, f.name, strawberry.field(description=f.description))
        cls.__annotations__ = dict(own[:at] + added + own[at:])
        return cls

    return insert


@strawberry.type(description="The market regime of a symbol on one timeframe.")
@_with_fields(regime.FIELDS, after="label")
class Regime:
    timeframe: Timeframe
    label: str = strawberry.field(description="e.g. trending_up; unknown labels pass as-is.")
    computed_at: datetime | None
    age_seconds: float | None
    stale: bool = strawberry.field(
        description="Older than the freshness limit of its timeframe, or of unknown age."
    )

    @classmethod
    def of(cls, value: RegimeValue) -> Regime:
        f = value.freshness
        return cls(
            timeframe=Timeframe.from_token(value.timeframe), label=value.label,
            **{field.name: value.get(field) for field in regime.FIELDS},
            computed_at=_timestamp(f.computed_at), age_seconds=f.age_seconds, stale=f.stale,
        )


@strawberry.type(description="How unusual the symbol's recent behaviour is (score 0..1).")
@_with_fields(novelty.FIELDS)
class Novelty:
    computed_at: datetime | None
    age_seconds: float | None
    stale: bool

    @classmethod
    def of(cls, value: NoveltyValue) -> Novelty:
        f = value.freshness
        return cls(
            **{field.name: getattr(value, field.name) for field in novelty.FIELDS},
            computed_at=_timestamp(f.computed_at), age_seconds=f.age_seconds, stale=f.stale,
        )


@strawberry.type(description="How this symbol's returns correlate with a partner's.")
@_with_fields(correlations.FIELDS, after="partner")
class Correlation:
    partner: Symbol = strawberry.field(
        description="Never null: its fields are null when the partner has no data."
    )
    computed_at: datetime | None


@strawberry.type(description="Intelligence on one symbol.")
class Symbol:
    symbol: str = strawberry.field(description="Canonical, e.g. BINANCE:BTC-USDT.")
    input: str = strawberry.field(description="As the caller wrote it.")
    data: strawberry.Private[SymbolData | None] = None
    plan: strawberry.Private[Plan] = EMPTY_PLAN

    def _loaded(self, info: Info[Any, Any]) -> SymbolData | Awaitable[SymbolData]:
        if self.data is not None:
            return self.data
        return cast(Awaitable[SymbolData],
                    info.context.intelligence.load((self.symbol, self.plan.needs)))

    @strawberry.field(description="Null when the symbol has no regime data; ordered M1 → MN1.")
    def regime(
        self, info: Info[Any, Any],
        timeframes: list[Timeframe] | None = strawberry.UNSET,
    ) -> list[Regime] | None:
        wanted = {tf.value for tf in timeframes} if isinstance(timeframes, list) else None
        return cast("list[Regime] | None", _then(self._loaded(info), lambda d: regimes_of(d, wanted)))

    @strawberry.field(description="Null when absent.")
    def novelty(self, info: Info[Any, Any]) -> Novelty | None:
        return cast("Novelty | None", _then(self._loaded(info), novelty_of))

    @strawberry.field(
        description="Strongest |coefficient| first, ties by partner symbol; null when absent."
    )
    def correlations(
        self, info: Info[Any, Any], first: int | None = 20,
        min_abs: float | None = strawberry.UNSET,
    ) -> list[Correlation] | None:
        partner = self.plan.partner
        threshold = min_abs if isinstance(min_abs, float | int) else None
        return cast("list[Correlation] | None", _then(
            self._loaded(info), lambda d: correlations_of(d, first, threshold, partner)))


def regimes_of(data: SymbolData, wanted: set[str] | None) -> list[Regime] | None:
    if data.regimes is None:
        return None
    return [Regime.of(r) for r in data.regimes if wanted is None or r.timeframe in wanted]


def novelty_of(data: SymbolData) -> Novelty | None:
    return None if data.novelty is None else Novelty.of(data.novelty)


def correlations_of(data: SymbolData, first: int | None, min_abs: float | None,
                    partner: Plan) -> list[Correlation] | None:
    if data.correlations is None:
        return None
    return [
        Correlation(
            partner=Symbol(symbol=c.partner, input=c.partner, plan=partner),
            **{field.name: getattr(c, field.name) for field in correlations.FIELDS},
            computed_at=_timestamp(c.computed_at),
        )
        for c in chosen(data.correlations, first, min_abs)
    ]


def _then(value: SymbolData | Awaitable[SymbolData], fn: Any) -> Any:
    """Apply ``fn`` now when the data is loaded, else after the loader's batch."""
    if isinstance(value, SymbolData):
        return fn(value)

    async def later() -> Any:
        return fn(await value)

    return later()


def _change_symbol(root: RegimeChange, info: Info[Any, Any]) -> Symbol:
    # Loaded as a Query's Symbol is, by the event's context's loader, with the plan of
    # what this selection asks of it (``symbol { regime { label } }``).
    return Symbol(symbol=root.canonical, input=root.canonical, plan=plan_of(info))


@strawberry.type(description="A change of a symbol's regime label on one timeframe.")
class RegimeChange:
    id: str = strawberry.field(
        description="The events-stream entry id; pass it as `after` to resume without a gap.")
    symbol: Symbol = strawberry.field(resolver=_change_symbol)
    timeframe: Timeframe
    label: str
    previous: str | None = strawberry.field(description="Null when there was none.")
    computed_at: datetime | None
    canonical: strawberry.Private[str]
    #: What the subscribers of this change share (``Event.shared``) and what the changes
    #: read with it share (``Event.page``).
    shared: strawberry.Private[dict[Any, Any] | None] = dataclasses.field(
        default=None, repr=False, compare=False)
    page: strawberry.Private[dict[Any, Any] | None] = dataclasses.field(
        default=None, repr=False, compare=False)

    @staticmethod
    def shared_of(payload: object) -> dict[Any, Any] | None:
        """What every subscriber given this change shares (``Event.shared``), if anything."""
        return payload.shared if isinstance(payload, RegimeChange) else None

    @staticmethod
    def page_of(payload: object) -> dict[Any, Any] | None:
        """What the changes read with this one share (``Event.page``), if anything."""
        return payload.page if isinstance(payload, RegimeChange) else None

    @classmethod
    def of(cls, event: Event) -> RegimeChange:
        """The change of ``event``: one object for every subscriber it is offered to (a
        burst of 250 changes to 100 subscribers builds 250, not 25,000; nothing alters it),
        kept in ``event.views``."""
        made = event.views.get(cls)
        if made is None:
            made = event.views[cls] = cls(
                id=event.id, canonical=event.symbol, shared=event.shared, page=event.page,
                timeframe=Timeframe.from_token(event.timeframe), label=event.label,
                previous=event.previous, computed_at=_timestamp(event.computed_at))
        return cast("RegimeChange", made)
