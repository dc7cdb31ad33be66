"""The GraphQL schema of ``docs/contract/api.md`` (Query side) and its SDL export (``schema.graphql``)."""

from __future__ import annotations

from pathlib import Path

import strawberry
from strawberry.schema.config import StrawberryConfig

from argus.graphql.resolvers import resolve_symbol, resolve_symbols
from argus.graphql.types import Symbol


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


schema = strawberry.Schema(query=Query, config=StrawberryConfig(auto_camel_case=True))

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def sdl() -> str:
    return schema.as_str() + "\n"
