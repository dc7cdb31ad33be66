"""What a query selects under a ``Symbol``, read from the document before any Redis call.

A ``Plan`` says which namespaces one query level needs (so the fetch asks for nothing
else) and, through ``correlations { partner { ... } }``, what the next level needs. The same
walk checks ``correlations`` arguments, so bad arguments fail before Redis is touched.
Fragments (inline and named) are followed; aliases are irrelevant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    value_from_ast_untyped,
)

from argus.errors import BadUserInput
from argus.keys import Namespace

_NAMESPACE_OF: dict[str, Namespace] = {
    "regime": "regime", "novelty": "novelty", "correlations": "corr",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Plan:
    needs: frozenset[Namespace] = frozenset()
    partner_plan: Plan | None = None

    @property
    def partner(self) -> Plan:
        return self.partner_plan or EMPTY_PLAN

    def merge(self, other: Plan) -> Plan:
        if other.partner_plan is None:
            partner = self.partner_plan
        elif self.partner_plan is None:
            partner = other.partner_plan
        else:
            partner = self.partner_plan.merge(other.partner_plan)
        return Plan(self.needs | other.needs, partner)


EMPTY_PLAN = Plan()


def plan_for(field_nodes: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode],
             variables: Mapping[str, Any]) -> Plan:
    """The plan of the ``Symbol`` selected by ``field_nodes`` (the root field's nodes)."""
    plan = EMPTY_PLAN
    for node in field_nodes:
        if node.selection_set is not None:
            plan = plan.merge(_walk(node.selection_set, fragments, variables, frozenset()))
    return plan


def fields_of(selection_set: SelectionSetNode | None,
              fragments: Mapping[str, FragmentDefinitionNode],
              visiting: frozenset[str] = frozenset()) -> list[FieldNode]:
    """The fields of one selection set, inline and named fragments flattened, cycles cut.

    Every walk over a document (plans, limits, cache hints) reads fields through this.
    """
    out: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            out.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            out.extend(fields_of(selection.selection_set, fragments, visiting))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in visiting:
                out.extend(fields_of(fragments[name].selection_set, fragments, visiting | {name}))
    return out


def _walk(selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode],
          variables: Mapping[str, Any], seen: frozenset[str]) -> Plan:
    needs: set[Namespace] = set()
    partner: Plan | None = None
    for field in fields_of(selection_set, fragments, seen):
        namespace = _NAMESPACE_OF.get(field.name.value)
        if namespace is None:
            continue
        needs.add(namespace)
        if namespace != "corr":
            continue
        check_correlation_arguments(_arguments(field, variables))
        if field.selection_set is None:
            continue
        for sub in fields_of(field.selection_set, fragments, seen):
            if sub.name.value == "partner" and sub.selection_set is not None:
                level = _walk(sub.selection_set, fragments, variables, seen)
                partner = level if partner is None else partner.merge(level)
    return Plan(frozenset(needs), partner)


def _arguments(field: FieldNode, variables: Mapping[str, Any]) -> dict[str, Any]:
    return {arg.name.value: value_from_ast_untyped(arg.value, dict(variables))
            for arg in field.arguments or ()}


def check_correlation_arguments(args: Mapping[str, Any]) -> None:
    first = args.get("first")
    if isinstance(first, int) and first < 0:
        raise BadUserInput(f"correlations(first:) must be at least 0, got {first}.",
                           argument="first")
    min_abs = args.get("minAbs")
    if isinstance(min_abs, int | float) and not 0.0 <= min_abs <= 1.0:
        raise BadUserInput(f"correlations(minAbs:) must be within 0..1, got {min_abs}.",
                           argument="minAbs")
