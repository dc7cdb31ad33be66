"""Every private Strawberry internal Argus touches, each behind one named function.

Argus validates and executes with graphql-core itself (``policy.limits``, ``graphql.engine``)
and plans a selection from graphql-core's resolve info; Strawberry offers neither publicly.
The root resolvers never see an ``Info``: the Strawberry root fields turn theirs into a plan
here (``plan_of``), the one place that reads ``Info._raw_info``. An upgrade that moves one
breaks one function here, and ``tests/graphql/test_strawberry_compat.py`` names it.
``pyproject.toml`` pins the tested minor (``scripts/compat-matrix.sh`` runs the suite on
its bounds).
"""

from __future__ import annotations

from typing import Any, Protocol

import strawberry
from graphql import FieldNode, GraphQLSchema

from argus.graphql.selection import Plan, plan_for


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
    fragments and variables, which ``Info`` does not expose)."""
    raw: RawInfo = info._raw_info
    return raw


def plan_of(info: Any) -> Plan:
    """The plan of the ``Symbol`` a Strawberry root field resolves, from its ``Info``."""
    raw = raw_info(info)
    # graphql-core 3.3 wraps variables in VariableValues(.coerced); 3.2 passes a dict.
    values: Any = raw.variable_values
    variables = getattr(values, "coerced", values)
    return plan_for(raw.field_nodes, raw.fragments, variables)
