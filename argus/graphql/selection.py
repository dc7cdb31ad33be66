"""What a query selects under a ``Symbol``, read from the document before any Redis call.

A ``Plan`` says which namespaces one query level needs (so the fetch asks for nothing
else) and, through ``correlations { partner { ... } }``, what the next level needs. The same
walk checks ``correlations`` arguments, so bad arguments fail before Redis is touched.
Fragments (inline and named) are followed; aliases are irrelevant. Every walk over a
document (plans, limits, cost, cache hints) reads its fields through ``Fields``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
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


Group = tuple[FieldNode, ...]


class TooManySelections(Exception):
    """A document whose merged fields take more than ``budget`` selections to read: the
    same fragment spread under many aliases is read once per alias, as execution would."""

    def __init__(self, budget: int) -> None:
        super().__init__(budget)
        self.budget = budget


class Fields:
    """The merged fields of a document's selection sets, each collected once.

    Fields are grouped by response key as GraphQL's field merging groups them, and a
    fragment is expanded at most once per collection (as ``collect_fields`` does), so
    ``...F ...F`` counts once and a chain of fragments that each spread the next twice
    collects in time linear in the document. Collections are memoized by the selection
    sets they merge, so a walker that memoizes by group (``key``) visits each once.
    ``visited`` counts the selections read, for the tests that bound it.
    """

    __slots__ = ("_memo", "budget", "fragments", "visited")

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode],
                 budget: int | None = None) -> None:
        self.fragments = fragments
        #: Selections that may be read before ``TooManySelections`` (``None``: no bound).
        self.budget = budget
        self.visited = 0
        self._memo: dict[tuple[int, ...], list[Group]] = {}

    def of(self, selection_sets: Sequence[SelectionSetNode | None]) -> list[Group]:
        """The groups of fields the selection sets select together, in document order."""
        sets = [s for s in selection_sets if s is not None]
        key = tuple(id(s) for s in sets)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        groups: dict[str, list[FieldNode]] = {}
        expanded: set[str] = set()
        # An explicit stack: nested inline fragments must not exhaust Python's recursion.
        stack: list[SelectionNode] = [sel for s in reversed(sets) for sel in reversed(s.selections)]
        budget = self.budget
        while stack:
            selection = stack.pop()
            self.visited += 1
            if budget is not None and self.visited > budget:
                raise TooManySelections(budget)
            if isinstance(selection, FieldNode):
                name = (selection.alias or selection.name).value
                groups.setdefault(name, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                stack.extend(reversed(selection.selection_set.selections))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in expanded:
                    expanded.add(name)  # also cuts cycles (validation reports them)
                    stack.extend(reversed(fragment.selection_set.selections))
        result = [tuple(group) for group in groups.values()]
        self._memo[key] = result
        return result

    def children(self, group: Group) -> list[Group]:
        """The merged selections below one group (empty for a leaf)."""
        return self.of([node.selection_set for node in group])


def key(group: Group) -> tuple[int, ...]:
    """A group's identity while its document lives (AST nodes hash by deep value)."""
    return tuple(id(node) for node in group)


def name_of(group: Group) -> str:
    return group[0].name.value


def plan_for(field_nodes: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode],
             variables: Mapping[str, Any]) -> Plan:
    """The plan of the ``Symbol`` selected by ``field_nodes`` (the root field's nodes)."""
    return _Planner(Fields(fragments), variables).plan(tuple(field_nodes))


class _Planner:
    def __init__(self, fields: Fields, variables: Mapping[str, Any]) -> None:
        self.fields = fields
        self.variables = variables
        self._memo: dict[tuple[int, ...], Plan] = {}

    def plan(self, group: Group) -> Plan:
        found = self._memo.get(key(group))
        if found is not None:
            return found
        needs: set[Namespace] = set()
        partner: Plan | None = None
        for field in self.fields.children(group):
            namespace = _NAMESPACE_OF.get(name_of(field))
            if namespace is None:
                continue
            needs.add(namespace)
            if namespace != "corr":
                continue
            for node in field:
                check_correlation_arguments(_arguments(node, self.variables))
            for sub in self.fields.children(field):
                if name_of(sub) == "partner":
                    level = self.plan(sub)
                    partner = level if partner is None else partner.merge(level)
        plan = Plan(frozenset(needs), partner)
        self._memo[key(group)] = plan
        return plan


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


def operations_of(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation a request runs: the named one, or the only one when no name is given
    (``None`` when there is no such operation, or several and no name)."""
    operations = operations_of(document)
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)
