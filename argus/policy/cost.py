"""The query cost model: a data table (Saleor-style), checked against the schema at start-up.

Cost counts what a query can make Argus touch, before anything runs::

    cost(field) = (complexity + cost of its selections) × multipliers
    multiplier  = len(list argument) | int argument, clipped to [0, CEILING]

A field missing from the table costs nothing itself but passes its selections' cost on, so
leaves are free and ``partner { regime }`` costs what ``regime`` costs, once per partner.
An absent argument counts with its schema default (``first: 20``); ``first: null`` or a
negative ``first`` counts as the fan-out ceiling (2 × K = 40 partners, ``clarifications``
§2). Arguments count with the values execution coerces (variables included, so ``40.0``
for an ``Int`` is 40). Introspection costs its fixed charge (``argus.policy.limits``).

Examples (anonymous may spend 200 per request)::

    { symbol(symbol: "BTC") { regime { label } } }                         1 + 1 = 2
    { symbols(symbols: ["A", "B"]) { regime { label } novelty { score } } }  (1+1+1) × 2 = 6
    { symbol(symbol: "BTC") { correlations { coefficient } } }              1 + 1 × 20 = 21
    { symbol(symbol: "BTC") { correlations(first: 5) { partner { novelty { score } } } } }
                                                                          1 + (1 + 1) × 5 = 11
    subscription { regimeChanges(symbols: ["A", "B"]) { label symbol { regime { label } } } }
                                                                                 (1 + 1) × 2 = 4
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values

from argus.errors import ConfigurationError
from argus.graphql.selection import Fields, Group, key, name_of


class FieldCost(TypedDict, total=False):
    complexity: int
    multipliers: list[str]


COST_MAP: dict[str, dict[str, FieldCost]] = {
    "Query": {
        "symbol": {"complexity": 1},
        "symbols": {"complexity": 1, "multipliers": ["symbols"]},
    },
    "Subscription": {
        # Per event, what a query of its symbols costs; charged once, when it is admitted.
        "regimeChanges": {"complexity": 1, "multipliers": ["symbols"]},
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
    """Computes one operation's cost from the document's merged fields (``Fields``).

    ``variables`` are the coerced values execution will use (``get_variable_values``), and
    arguments are coerced as execution coerces them, so ``first: $n`` with ``40.0`` counts
    40. A group of fields is costed once per parent type, so a fragment chain costs linear
    time however it fans out.
    """

    def __init__(self, schema: GraphQLSchema,
                 fragments: Mapping[str, FragmentDefinitionNode] | Fields,
                 variables: VariableValues | None) -> None:
        self.schema = schema
        self.fields = fragments if isinstance(fragments, Fields) else Fields(fragments)
        self.variables = variables
        self._memo: dict[tuple[tuple[int, ...], str], int] = {}

    def cost(self, selection_set: SelectionSetNode | None, parent: GraphQLObjectType) -> int:
        return self._groups(self.fields.of([selection_set]), parent)

    def _groups(self, groups: list[Group], parent: GraphQLObjectType) -> int:
        return sum(self._group(group, parent) for group in groups)

    def _group(self, group: Group, parent: GraphQLObjectType) -> int:
        name = name_of(group)
        definition = parent.fields.get(name)
        if name.startswith("__") or definition is None:
            return 0
        memo = (key(group), parent.name)
        found = self._memo.get(memo)
        if found is not None:
            return found
        child_type = get_named_type(definition.type)
        children = 0
        if isinstance(child_type, GraphQLObjectType):
            children = self._groups(self.fields.children(group), child_type)
        spec = COST_MAP.get(parent.name, {}).get(name)
        cost = children
        if spec is not None:
            multiplier = 1
            for arg in spec.get("multipliers", []):
                # Merged fields agree on their arguments (validation); the largest counts
                # when they do not, until validation refuses the document.
                multiplier *= max(self.argument_size(node, definition, arg) for node in group)
            cost = (spec.get("complexity", 0) + children) * multiplier
        self._memo[memo] = cost
        return cost

    def argument_size(self, node: FieldNode, definition: GraphQLField, arg: str) -> int:
        ceiling = CEILING.get(arg)
        try:
            value = get_argument_values(definition, node, self.variables).get(arg)
        except GraphQLError:  # a value validation or variable coercion refuses
            return ceiling if ceiling is not None else 1
        if isinstance(value, list):
            return len(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                return ceiling if ceiling is not None else 0
            return min(value, ceiling) if ceiling is not None else value
        if value is None and ceiling is not None:
            return ceiling
        return 1
