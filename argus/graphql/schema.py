"""The GraphQL schema of ``docs/contract/api.md`` (Query and Subscription) and its SDL export
(``schema.graphql``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from argus.graphql import resolvers
from argus.graphql._strawberry_compat import plan_of
from argus.graphql.types import RegimeChange, Symbol, Timeframe

# The root fields as Strawberry sees them: thin adapters from ``Info`` to the resolvers'
# (context, plan). The plan is computed lazily, after the resolver normalizes its input.

async def resolve_symbol(info: Info[Any, Any], symbol: str) -> Symbol | None:
    return await resolvers.resolve_symbol(info.context, lambda: plan_of(info), symbol)


async def resolve_symbols(info: Info[Any, Any], symbols: list[str]) -> list[Symbol | None]:
    return await resolvers.resolve_symbols(info.context, lambda: plan_of(info), symbols)


@strawberry.type
class Query:
    symbol: Symbol | None = strawberry.field(
        resolver=resolve_symbol,
        description="Null with a NOT_FOUND error when regime, novelty and correlations "
        "are all absent.",
    )
    symbols: list[Symbol | None] = strawberry.field(
        resolver=resolve_symbols,
        description="One entry per input, same order; null (+ NOT_FOUND at its path) for "
        "unknown ones.",
    )


async def resolve_regime_changes(
    info: Info[Any, Any], symbols: list[str],
    timeframes: list[Timeframe] | None = strawberry.UNSET,
    after: str | None = strawberry.UNSET,
) -> AsyncIterator[RegimeChange]:
    return await resolvers.regime_changes(
        info.context, symbols, timeframes if isinstance(timeframes, list) else None,
        after if isinstance(after, str) else None)


@strawberry.type
class Subscription:
    regime_changes: AsyncIterator[RegimeChange] = strawberry.subscription(
        resolver=resolve_regime_changes,
        description="Each change of a regime label of `symbols` (on `timeframes`, all when "
        "left out), live; after the events-stream id `after` first when given.",
    )


schema = strawberry.Schema(query=Query, subscription=Subscription,
                           config=StrawberryConfig(auto_camel_case=True))

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def sdl() -> str:
    return schema.as_str() + "\n"
