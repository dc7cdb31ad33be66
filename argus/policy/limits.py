"""Per-tier limits as graphql-core validation rules, run with the standard rules in one pass.

Each factory closes over one tier's value (``argus.policy.tiers``) and reports a located
``QUERY_TOO_COMPLEX`` error naming the limit and the tier's value, word for word::

    Query depth 5 found. Allowed for the anonymous tier: 4.
    11 aliases found. Allowed for the anonymous tier: 10.
    1001 tokens found. Allowed for the anonymous tier: 1000.
    6 symbols requested. Allowed for the anonymous tier: 5.
    Query cost 201 found. Allowed for the anonymous tier: 200.
    Subscriptions are not allowed for the anonymous tier.     (a tier with subscriptions = false)

Depth counts nested selection sets from the root field (``symbol { regime { label } } }``
is 2). Symbols count ``symbol`` (1) and ``symbols`` / ``regimeChanges`` (the list of their
``symbols`` argument, from variables too) over all
root fields of an operation, from the argument values execution will use (coerced, so
``40.0`` for an ``Int`` counts as 40). Every walk reads the document through one
``selection.Fields`` per pass, so a fragment spread twice is counted once and the work
stays linear in the document.

Introspection (``docs/contract/clarifications.md`` §15): a document whose root fields are only
introspection is exempt from depth and the per-request cost limit, held to 5,000 tokens and
charged a fixed cost (``ARGUS_INTROSPECTION_COST``); a tier may turn it off (refused as
``Introspection is not allowed for the anonymous tier.``, limit ``introspection``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TokenKind,
    ValidationContext,
    ValidationRule,
    specified_rules,
    validate,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.validation.rules import overlapping_fields_can_be_merged as overlapping

from argus.data.bounded_cache import BoundedCache, document_bytes
from argus.errors import QueryTooComplex
from argus.graphql.selection import Fields, Group, TooManySelections, key, name_of, operations_of
from argus.policy.cost import CostWalker
from argus.policy.tiers import Tier

Rule = type[ASTValidationRule]
#: Variable shapes serialized longer than this are not part of a cache key (validated each time).
_CACHEABLE_VARIABLES = 4_096
#: A list of strings in a variable shape: a marker no string of a real list can produce
#: (``shape_of`` empties every string).
_STRINGS = "strings"
#: The root fields that are introspection; ``__typename`` alone is not (§15).
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
#: Root fields whose ``symbols`` list counts toward the tier's symbol limit.
SYMBOL_LISTS = frozenset({"symbols", "regimeChanges"})
#: The token allowance of an introspection-only document, whatever the tier (§15): enough
#: for GraphiQL's introspection query.
INTROSPECTION_TOKENS = 5_000
#: Units of graphql-core's overlapping-fields budget per token a tier may send. Ordinary
#: documents spend almost none (the issue's 40-fragment chain: 117); 100 copies of one
#: field spend 9,900; GraphiQL's introspection query, none.
OVERLAP_WORK_PER_TOKEN = 2
#: Selections the limit walks may read per token a tier may send (``selection_budget``).
SELECTIONS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Validation:
    errors: tuple[GraphQLError, ...]
    cost: int


def shape_of(value: Any) -> Any:
    """What validation can read of a variable's value: everything but the text of strings.

    graphql-core's rules never see variables; the limit rules read only list lengths,
    integers and which values are strings (``symbols_of``, ``CostWalker.argument_size``).
    So Apex's 1,000 symbols validate once per list length, not once per list. Iterative:
    a caller's nesting must not decide the depth of our stack.
    """
    stack: list[tuple[Any, Any]] = []
    root = _shape_one(value, stack)
    while stack:
        source, target = stack.pop()
        if target.__class__ is list:
            for index, item in enumerate(source):
                target[index] = _shape_one(item, stack)
        else:
            for key, item in source.items():
                target[key] = _shape_one(item, stack)
    return root


def _shape_one(value: Any, stack: list[tuple[Any, Any]]) -> Any:
    """The shape of ``value``; a container comes back empty, its filling pushed on ``stack``."""
    kind = value.__class__
    if kind is str:
        return ""
    if kind is list:
        if all(v.__class__ is str for v in value):
            return [_STRINGS, len(value)]
        out: Any = [None] * len(value)
    elif kind is dict:
        out = {}
    else:
        return value
    stack.append((value, out))
    return out


def too_complex(message: str, limit: str, value: int, found: int,
                nodes: list[Node] | Node | None = None) -> GraphQLError:
    error = QueryTooComplex(message, limit=limit, value=value, found=found)
    return GraphQLError(message, nodes, original_error=error)


def _fields(fragments: Mapping[str, FragmentDefinitionNode] | Fields) -> Fields:
    return fragments if isinstance(fragments, Fields) else Fields(fragments)


def depth_of(selection_set: SelectionSetNode | None,
             fragments: Mapping[str, FragmentDefinitionNode] | Fields) -> int:
    fields = _fields(fragments)
    memo: dict[tuple[int, ...], int] = {}

    def below(groups: list[Group]) -> int:
        deepest = 0
        for group in groups:
            if name_of(group).startswith("__") or all(n.selection_set is None for n in group):
                continue
            found = memo.get(key(group))
            if found is None:
                found = memo[key(group)] = 1 + below(fields.children(group))
            deepest = max(deepest, found)
        return deepest

    return below(fields.of([selection_set]))


def aliases_of(selection_set: SelectionSetNode | None,
               fragments: Mapping[str, FragmentDefinitionNode] | Fields) -> int:
    """Aliased fields at every position of the response (a fragment spread twice, once)."""
    fields = _fields(fragments)
    memo: dict[tuple[int, ...], int] = {}

    def count(groups: list[Group]) -> int:
        total = 0
        for group in groups:
            total += any(n.alias is not None for n in group)
            if any(n.selection_set is not None for n in group):
                found = memo.get(key(group))
                if found is None:
                    found = memo[key(group)] = count(fields.children(group))
                total += found
        return total

    return count(fields.of([selection_set]))


def tokens_of(document: DocumentNode) -> int:
    token = document.loc.start_token if document.loc else None
    count = 0
    while token is not None:
        if token.kind not in (TokenKind.SOF, TokenKind.EOF, TokenKind.COMMENT):
            count += 1
        token = token.next
    return count


def selects_introspection(operation: OperationDefinitionNode, fields: Fields) -> bool:
    """Whether the operation selects ``__schema`` or ``__type`` (root fields only)."""
    return any(name_of(g) in INTROSPECTION_FIELDS for g in fields.of([operation.selection_set]))


def is_introspection(document: DocumentNode, fields: Fields | None = None) -> bool:
    """Only introspection root fields, ``__schema`` or ``__type`` among them.

    ``__typename`` is no introspection (``{ __typename }`` alone is an ordinary query).
    """
    fields = fields or Fields(fragments_of(document))
    roots = [g for op in operations_of(document) for g in fields.of([op.selection_set])]
    return (all(name_of(g).startswith("__") for g in roots)
            and any(name_of(g) in INTROSPECTION_FIELDS for g in roots))


def coerced_variables(schema: GraphQLSchema, operation: OperationDefinitionNode,
                      variables: Mapping[str, Any]) -> VariableValues | None:
    """The variables as execution coerces them (``40.0`` for an ``Int`` is ``40``).

    ``None`` when they do not coerce: execution then refuses the request before any work.
    """
    coerced = get_variable_values(schema, operation.variable_definitions or (), dict(variables),
                                  max_errors=1)
    return None if isinstance(coerced, list) else coerced


def symbols_of(schema: GraphQLSchema, operation: OperationDefinitionNode, fields: Fields,
               variables: VariableValues | None) -> int:
    """Symbols requested over the root fields, from coerced argument values."""
    root = schema.get_root_type(operation.operation)
    count = 0
    for group in fields.of([operation.selection_set]):
        name = name_of(group)
        if name == "symbol":
            count += 1
        elif name in SYMBOL_LISTS and root is not None and name in root.fields:
            try:
                value = get_argument_values(root.fields[name], group[0], variables)
            except GraphQLError:  # refused by validation or variable coercion
                value = {}
            symbols = value.get("symbols")
            count += len(symbols) if isinstance(symbols, list) else 1
    return count


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _message(what: str, found: int, tier: Tier, limit: int) -> str:
    return f"{what.format(found)} Allowed for the {tier.name} tier: {limit}."


def _operation_rule(check: Callable[[ValidationContext, OperationDefinitionNode], None]) -> Rule:
    class OperationRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            check(self.context, node)

    return OperationRule


class _Pass:
    """What the rules of one validation pass share: one ``Fields`` for the document, the
    coerced variables of each operation, and what the pass found (cost, cacheability)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: Mapping[str, Any], budget: int | None = None) -> None:
        self.schema = schema
        self.fields = Fields(fragments_of(document), budget)
        self.raw = variables
        self.cost = 0
        self.coerces = True
        self._coerced: dict[int, VariableValues] = {}

    def variables(self, operation: OperationDefinitionNode) -> VariableValues:
        found = self._coerced.get(id(operation))
        if found is None:
            coerced = coerced_variables(self.schema, operation, self.raw)
            if coerced is None:
                # Execution will refuse these variables; count as if none were sent
                # (defaults), and keep the verdict out of the cache.
                self.coerces = False
                coerced = VariableValues(sources={}, coerced={})
            found = self._coerced[id(operation)] = coerced
        return found


def _limit_rule(tier: Tier, what: str, code: str, limit: int,
                measure: Callable[[ValidationContext, OperationDefinitionNode], int]) -> Rule:
    """Refuse an operation whose ``measure`` passes ``limit``: "<what> Allowed for ..."."""
    def check(context: ValidationContext, op: OperationDefinitionNode) -> None:
        found = measure(context, op)
        if found > limit:
            context.report_error(too_complex(_message(what, found, tier, limit), code, limit, found, op))

    return _operation_rule(check)


def max_depth_rule(tier: Tier, state: _Pass) -> Rule:
    return _limit_rule(tier, "Query depth {} found.", "maxDepth", tier.max_depth,
                       lambda _, op: depth_of(op.selection_set, state.fields))


def max_aliases_rule(tier: Tier, state: _Pass) -> Rule:
    return _limit_rule(tier, "{} aliases found.", "maxAliases", tier.max_aliases,
                       lambda _, op: aliases_of(op.selection_set, state.fields))


def max_symbols_rule(tier: Tier, state: _Pass) -> Rule:
    return _limit_rule(tier, "{} symbols requested.", "maxSymbols", tier.max_symbols,
                       lambda context, op: symbols_of(context.schema, op, state.fields,
                                                      state.variables(op)))


def max_cost_rule(tier: Tier, state: _Pass, introspection_cost: int,
                  limited: bool = True) -> Rule:
    """The cost, from coerced arguments; introspection adds its fixed charge (§15) and is
    exempt from the limit (``limited=False`` for an introspection-only document)."""
    def check(context: ValidationContext, op: OperationDefinitionNode) -> None:
        root = context.schema.get_root_type(op.operation)
        if root is None:
            return
        cost = CostWalker(context.schema, state.fields, state.variables(op)).cost(
            op.selection_set, root)
        charged = cost + (introspection_cost if selects_introspection(op, state.fields) else 0)
        state.cost = max(state.cost, charged)
        if limited and tier.max_cost is not None and cost > tier.max_cost:
            context.report_error(too_complex(
                _message("Query cost {} found.", cost, tier, tier.max_cost),
                "maxCost", tier.max_cost, cost, op))

    return _operation_rule(check)


def max_tokens_rule(tier: Tier, limit: int) -> Rule:
    class MaxTokens(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            tokens = tokens_of(node)
            if tokens > limit:
                self.report_error(too_complex(
                    _message("{} tokens found.", tokens, tier, limit), "maxTokens", limit, tokens))

    return MaxTokens


def no_introspection_rule(tier: Tier) -> Rule:
    """A tier with ``introspection = false``: ``__schema`` and ``__type`` are refused."""
    class NoIntrospection(ValidationRule):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.name.value in INTROSPECTION_FIELDS:
                self.report_error(too_complex(
                    f"Introspection is not allowed for the {tier.name} tier.",
                    "introspection", 0, 1, node))

    return NoIntrospection


def no_subscriptions_rule(tier: Tier) -> Rule:
    """A tier with ``subscriptions = false``: a subscription operation is refused."""
    def check(context: ValidationContext, op: OperationDefinitionNode) -> None:
        if op.operation is OperationType.SUBSCRIPTION:
            context.report_error(too_complex(
                f"Subscriptions are not allowed for the {tier.name} tier.",
                "subscriptions", 0, 1, op))

    return _operation_rule(check)


def parse_tokens(tier: Tier) -> int:
    """The ``max_tokens`` a tier's document is parsed with: one past what any rule allows,
    so the rule, not the parser, names the limit of a document just past it."""
    return max(tier.max_tokens, INTROSPECTION_TOKENS) + 1


def overlap_budget(tier: Tier) -> int:
    """The work graphql-core's field-merging rule may spend on a tier's document before it
    aborts validation: linear in the tokens the tier may send."""
    return OVERLAP_WORK_PER_TOKEN * max(tier.max_tokens, INTROSPECTION_TOKENS)


def selection_budget(tier: Tier) -> int:
    """The selections the limit walks may read for a tier's document: linear in the tokens
    it may send. A fragment is read once per position it is spread at (``...F`` under 200
    aliases, 200 times), which only a document far past the alias limit approaches."""
    return SELECTIONS_PER_TOKEN * max(tier.max_tokens, INTROSPECTION_TOKENS)


def parse_refusal(tier: Tier, max_tokens: int) -> QueryTooComplex:
    """The refusal of a document whose parse stopped at ``max_tokens``."""
    return QueryTooComplex(
        f"More than {max_tokens} tokens found. Allowed for the {tier.name} tier: "
        f"{tier.max_tokens}.", limit="maxTokens", value=tier.max_tokens, found=max_tokens + 1)


class Validator:
    """Validates a document for a tier (and its variables) in one pass, with an LRU cache."""

    def __init__(self, schema: GraphQLSchema, cache_size: int = 1024,
                 introspection_cost: int = 10, cache_bytes: int = 32 * 1_048_576) -> None:
        self.schema = schema
        self.cache_size = cache_size
        self.introspection_cost = introspection_cost
        # Keyed by the tier's name (unique in its table): hashing the tier itself hashes
        # every one of its limits, on every request.
        self._cache: BoundedCache[tuple[str, str, bytes], Validation] = BoundedCache(
            cache_bytes, cache_size, admit_on_reuse=True)

    def __call__(self, query: str, document: DocumentNode, tier: Tier,
                 variables: Mapping[str, Any] | None) -> Validation:
        variables = variables or {}
        # The shape keeps every number as sent (40.0 is not 40), so a verdict computed from
        # one request's coerced values only answers requests that coerce alike.
        # Copied to its own length: orjson's output keeps its whole write buffer (about
        # 4 KB), which a remembered key would hold for good, uncounted.
        packed = (bytes(memoryview(orjson.dumps(shape_of(variables), option=orjson.OPT_SORT_KEYS)))
                  if variables else b"")
        key = (query, tier.name, packed)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result, cacheable = self._validate(document, tier, variables)
        if cacheable and len(packed) <= _CACHEABLE_VARIABLES:
            # Errors point at nodes, whose locations keep the document's tokens alive.
            held = document_bytes(document) if result.errors else 0
            self._cache.put(key, result, len(query) + len(packed) + held,
                            probation=bool(result.errors))
        return result

    def _validate(self, document: DocumentNode, tier: Tier,
                  variables: Mapping[str, Any]) -> tuple[Validation, bool]:
        state = _Pass(self.schema, document, variables, selection_budget(tier))
        rules: list[Rule] = [*specified_rules, max_aliases_rule(tier, state),
                             max_symbols_rule(tier, state)]
        if not tier.introspection:
            rules.append(no_introspection_rule(tier))
        if not tier.subscriptions:
            rules.append(no_subscriptions_rule(tier))
        if is_introspection(document, state.fields):
            # §15: exempt from depth and the per-request cost limit; 5,000 tokens.
            rules += [max_tokens_rule(tier, INTROSPECTION_TOKENS),
                      max_cost_rule(tier, state, self.introspection_cost, limited=False)]
        else:
            rules += [max_depth_rule(tier, state), max_tokens_rule(tier, tier.max_tokens),
                      max_cost_rule(tier, state, self.introspection_cost)]
        # graphql-core's OverlappingFieldsCanBeMergedRule compares same-named fields in
        # pairs (1,000 copies of one field: 500,000 units, its whole default budget); its
        # budget is a public module setting read when a validation starts, so each tier's
        # is scaled to the document it may send (sync code: nothing runs in between).
        default = overlapping.MAX_COMPLEXITY_BUDGET
        overlapping.MAX_COMPLEXITY_BUDGET = min(default, overlap_budget(tier))
        try:
            # The widest walk first, outside graphql-core's rules: a document past the
            # selection budget is refused before they read it (the rules reuse its memo).
            for operation in operations_of(document):
                aliases_of(operation.selection_set, state.fields)
            # Suggestions ("Did you mean ...?") name the schema's fields to whoever asks.
            errors = validate(self.schema, document, rules, max_errors=100,
                              hide_suggestions=not tier.suggestions)
        except TooManySelections as exc:
            message = (f"More than {exc.budget} selections found once fragments are expanded. "
                       f"Allowed for the {tier.name} tier: {exc.budget}.")
            errors = [too_complex(message, "maxSelections", exc.budget, exc.budget + 1)]
        finally:
            overlapping.MAX_COMPLEXITY_BUDGET = default
        return Validation(tuple(errors), state.cost), state.coerces
