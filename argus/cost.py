"""The query cost model: a data table (Saleor-style), checked against the schema at start-up.

Cost counts what a query can make Argus touch, before anything runs::

    cost(field) = (complexity + cost of its selections) × multipliers
    multiplier  = len(list argument) | int argument, clipped to [0, CEILING]

A field missing from the table costs nothing itself but passes its selections' cost on, so
leaves are free and ``partner { regime }`` costs what ``regime`` costs, once per partner.
An absent argument counts with its schema default (``first: 20``); ``first: null`` or a
negative ``first`` counts as the fan-out ceiling (2 × K = 40 partners, ``clarifications``
§2). Variables count with their request values (or defaults). Introspection is free.

Examples (anonymous may spend 200 per request)::

    { symbol(symbol: "BTC") { regime { label } } }                         1 + 1 = 2
    { symbols(symbols: ["A", "B"]) { regime { label } novelty { score } } }  (1+1+1) × 2 = 6
    { symbol(symbol: "BTC") { correlations { coefficient } } }              1 + 1 × 20 = 21
    { symbol(symbol: "BTC") { correlations(first: 5) { partner { novelty { score } } } } }
                                                                          1 + (1 + 1) × 5 = 11
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    value_from_ast_untyped,
)
from graphql.pyutils import Undefined

from argus.errors import ConfigurationError


class FieldCost(TypedDict, total=False):
    complexity: int
    multipliers: list[str]


COST_MAP: dict[str, dict[str, FieldCost]] = {
    "Query": {
        "symbol": {"complexity": 1},
        "symbols": {"complexity": 1, "multipliers": ["symbols"]},
    },
    "Symbol": {
        "regime": {"complexity": 1},
        "novelty": {"complexity": 1},
        "correlations": {"complexity": 1, "multipliers": ["first"]},
    },
}

#: The largest value a multiplier argument can usefully take (and what ``null`` means).
CEILING: dict[str, int] = {"first": 40}


def check_cost_map(schema: GraphQLSchema, cost_map: Mapping[str, Mapping[str, FieldCost]]
                   = COST_MAP) -> None:
    """Refuse to start when the table names a type, field or argument the schema lacks."""
    for type_name, fields in cost_map.items():
        gql_type = schema.get_type(type_name)
        if not isinstance(gql_type, GraphQLObjectType):
            raise ConfigurationError(f"cost map: no object type {type_name!r} in the schema")
        for field_name, spec in fields.items():
            field = gql_type.fields.get(field_name)
            if field is None:
                raise ConfigurationError(f"cost map: no field {type_name}.{field_name}")
            complexity = spec.get("complexity", 0)
            if not isinstance(complexity, int) or complexity < 0:
                raise ConfigurationError(f"cost map: {type_name}.{field_name} complexity")
            for arg in spec.get("multipliers", []):
                if arg not in field.args:
                    raise ConfigurationError(
                        f"cost map: {type_name}.{field_name} has no argument {arg!r}")


class CostWalker:
    """Computes one operation's cost; fragment cycles are cut (validation reports them)."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def cost(self, selection_set: SelectionSetNode | None, parent: GraphQLObjectType,
             visiting: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, visiting)
            elif isinstance(selection, InlineFragmentNode):
                total += self.cost(selection.selection_set, self._narrow(selection, parent), visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in visiting:
                    total += self.cost(fragment.selection_set, self._narrow(fragment, parent),
                                       visiting | {name})
        return total

    def _narrow(self, node: InlineFragmentNode | FragmentDefinitionNode,
                parent: GraphQLObjectType) -> GraphQLObjectType:
        if node.type_condition is None:
            return parent
        narrowed = self.schema.get_type(node.type_condition.name.value)
        return narrowed if isinstance(narrowed, GraphQLObjectType) else parent

    def _field(self, node: FieldNode, parent: GraphQLObjectType, visiting: frozenset[str]) -> int:
        name = node.name.value
        definition = parent.fields.get(name)
        if name.startswith("__") or definition is None:
            return 0
        child_type = get_named_type(definition.type)
        children = 0
        if isinstance(child_type, GraphQLObjectType):
            children = self.cost(node.selection_set, child_type, visiting)
        spec = COST_MAP.get(parent.name, {}).get(name)
        if spec is None:
            return children
        multiplier = 1
        for arg in spec.get("multipliers", []):
            multiplier *= self.argument_size(node, arg, definition.args[arg].default_value)
        return (spec.get("complexity", 0) + children) * multiplier

    def argument_size(self, node: FieldNode, arg: str, default: Any) -> int:
        value = default
        for argument in node.arguments or ():
            if argument.name.value == arg:
                value = value_from_ast_untyped(argument.value, dict(self.variables))
        ceiling = CEILING.get(arg)
        if isinstance(value, list):
            return len(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                return ceiling if ceiling is not None else 0
            return min(value, ceiling) if ceiling is not None else value
        if (value is None or value is Undefined) and ceiling is not None:
            return ceiling
        return 1  # a single value coerced into a list, or input that validation refuses
