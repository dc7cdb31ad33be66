"""Canaries for the Strawberry internals ``argus.graphql._strawberry_compat`` touches: each
fails naming the internal when an upgrade of Strawberry moves it."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import strawberry
from graphql import GraphQLSchema

from argus.graphql import _strawberry_compat as compat
from argus.graphql.schema import schema


def test_strawberry_is_the_tested_minor() -> None:
    installed = version("strawberry-graphql")
    assert installed.startswith("0.341."), f"strawberry-graphql {installed} is not the tested 0.341"


def test_schema_underscore_schema_is_the_graphql_core_schema() -> None:
    assert isinstance(getattr(schema, "_schema", None), GraphQLSchema), \
        "strawberry.Schema._schema is no longer the graphql-core GraphQLSchema"
    built = compat.graphql_schema(schema)
    assert built.query_type is not None and "symbol" in built.query_type.fields


def test_info_underscore_raw_info_is_graphql_cores_resolve_info() -> None:
    seen: list[Any] = []

    @strawberry.type
    class Query:
        @strawberry.field
        def hello(self, info: strawberry.Info, who: str) -> str:
            raw = getattr(info, "_raw_info", None)
            for name in ("field_nodes", "fragments", "variable_values"):
                assert hasattr(raw, name), f"strawberry.Info._raw_info.{name} moved"
            seen.append(compat.raw_info(info))
            return who

    result = strawberry.Schema(query=Query).execute_sync(
        "query Q($n: String!) { hello(who: $n) }", variable_values={"n": "x"})
    assert result.errors is None and result.data == {"hello": "x"}
    raw = seen[0]
    assert [node.name.value for node in raw.field_nodes] == ["hello"]
    assert raw.fragments == {}
    assert getattr(raw.variable_values, "coerced", raw.variable_values) == {"n": "x"}
