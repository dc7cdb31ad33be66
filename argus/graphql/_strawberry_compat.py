"""Every private Strawberry internal Argus touches, each behind one named function.

Argus validates and executes with graphql-core itself (``policy.limits``, the view, the
compiled path) and plans a selection from graphql-core's resolve info; Strawberry offers
neither publicly. An upgrade that moves one breaks one function here, and
``tests/graphql/test_strawberry_compat.py`` names it. ``pyproject.toml`` pins the tested
minor (``scripts/compat-matrix.sh`` runs the suite on its bounds).
"""

from __future__ import annotations

from typing import Any, Protocol

import strawberry
from graphql import FieldNode, GraphQLSchema


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built (``Schema._schema``)."""
    built: GraphQLSchema = schema._schema
    return built


class RawInfo(Protocol):
    """What the resolvers read of graphql-core's resolve info (Strawberry wraps it in a class
    of its own that is not a ``GraphQLResolveInfo``)."""

    @property
    def field_nodes(self) -> list[FieldNode]: ...
    @property
    def fragments(self) -> dict[str, Any]: ...
    @property
    def variable_values(self) -> Any: ...


def raw_info(info: Any) -> RawInfo:
    """graphql-core's resolve info under Strawberry's ``Info`` (``Info._raw_info``: field nodes,
    fragments and variables, which ``Info`` does not expose). ``graphql.compiled`` hands the
    resolvers an object of the same shape."""
    raw: RawInfo = info._raw_info
    return raw
