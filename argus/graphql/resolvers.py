"""Root resolvers: normalize input, plan the selection, load every symbol in one batch.

Everything that can be refused is refused before the loader runs, so bad input never
reaches Redis. ``symbols`` answers one entry per input in order; an invalid or unknown
entry is ``null`` with its own error at its path (an exception instance in the list is
what graphql-core turns into a located field error), and the rest still resolves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from strawberry.types import Info

from argus.data.loaders import Needs, SymbolData
from argus.errors import InvalidSymbol, symbol_not_found
from argus.graphql._strawberry_compat import raw_info
from argus.graphql.selection import Plan, plan_for
from argus.graphql.types import Symbol

Load = Callable[[Sequence[tuple[str, Needs]]], Awaitable[list[SymbolData]]]


def plan_of(info: Info[Any, Any]) -> Plan:
    raw = raw_info(info)
    # graphql-core 3.3 wraps variables in VariableValues(.coerced); 3.2 passes a dict.
    values: Any = raw.variable_values
    variables: Mapping[str, Any] = getattr(values, "coerced", values)
    return plan_for(raw.field_nodes, raw.fragments, variables)


async def resolve_symbol(info: Info[Any, Any], symbol: str) -> Symbol | None:
    return await _symbol(info, symbol, info.context.intelligence.load_many, None)


async def resolve_symbols(info: Info[Any, Any], symbols: list[str]) -> list[Symbol | None]:
    return await _symbols(info, symbols, info.context.intelligence.load_many, None)


# The compiled path (``argus.graphql.compiled``) runs a root field that is alone in its operation,
# so it holds its whole level at once: it loads it directly, without the dataloader's
# event-loop turn to collect loads and its future per symbol (1,000 of them for Apex).
# ``plan``: the plan of a shape that has no variables below its root, computed once.

async def resolve_symbol_alone(info: Any, symbol: str, plan: Plan | None = None) -> Symbol | None:
    return await _symbol(info, symbol, info.context.intelligence.load_level, plan)


async def resolve_symbols_alone(info: Any, symbols: list[str],
                                plan: Plan | None = None) -> list[Symbol | None]:
    return await _symbols(info, symbols, info.context.intelligence.load_level, plan)


async def _symbol(info: Info[Any, Any], symbol: str, load: Load, plan: Plan | None) -> Symbol | None:
    ctx = info.context
    canonical = ctx.normalizer.normalize(symbol)
    plan = plan_of(info) if plan is None else plan
    [data] = await load([(canonical, plan.needs)])
    if not data.exists:
        raise symbol_not_found(canonical)
    return Symbol(symbol=canonical, input=symbol, data=data, plan=plan)


async def _symbols(info: Info[Any, Any], symbols: list[str], load: Load,
                   plan: Plan | None) -> list[Symbol | None]:
    ctx = info.context
    normalized = ctx.normalizer.normalize_many(symbols)
    plan = plan_of(info) if plan is None else plan
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
