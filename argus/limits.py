"""Per-tier limits as graphql-core validation rules, run with the standard rules in one pass.

Each factory closes over one tier's value (``argus.tiers``) and reports a located
``QUERY_TOO_COMPLEX`` error naming the limit and the tier's value, word for word::

    Query depth 5 found. Allowed for the anonymous tier: 4.
    11 aliases found. Allowed for the anonymous tier: 10.
    1001 tokens found. Allowed for the anonymous tier: 1000.
    6 symbols requested. Allowed for the anonymous tier: 5.
    Query cost 201 found. Allowed for the anonymous tier: 200.

Depth counts nested selection sets from the root field (``symbol { regime { label } } }``
is 2). Symbols count ``symbol`` (1) and ``symbols`` (its list, from variables too) over all
root fields of an operation. Introspection (``__schema``, ``__type``) is exempt from depth,
cost and tokens (``clarifications.md`` §13) so GraphiQL loads for every tier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    TokenKind,
    ValidationContext,
    ValidationRule,
    specified_rules,
    validate,
    value_from_ast_untyped,
)

from argus.bounded_cache import BoundedCache, document_bytes
from argus.cost import CostWalker
from argus.errors import QueryTooComplex
from argus.selection import fields_of
from argus.tiers import Tier

Rule = type[ASTValidationRule]
#: Variable shapes serialized longer than this are not part of a cache key (validated each time).
_CACHEABLE_VARIABLES = 4_096
#: A list of strings in a variable shape: a marker no string of a real list can produce
#: (``shape_of`` empties every string).
_STRINGS = "strings"


@dataclass(frozen=True, slots=True)
class Validation:
    errors: tuple[GraphQLError, ...]
    cost: int


class _CostReport:
    __slots__ = ("cost",)

    def __init__(self) -> None:
        self.cost = 0


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


def depth_of(selection_set: SelectionSetNode | None,
             fragments: Mapping[str, FragmentDefinitionNode], level: int = 0) -> int:
    deepest = level
    for field in fields_of(selection_set, fragments):
        if field.name.value.startswith("__"):
            continue
        if field.selection_set is not None:
            deepest = max(deepest, depth_of(field.selection_set, fragments, level + 1))
    return deepest


def aliases_of(selection_set: SelectionSetNode | None,
               fragments: Mapping[str, FragmentDefinitionNode]) -> int:
    fields = fields_of(selection_set, fragments)
    return sum(1 for f in fields if f.alias is not None) + sum(
        aliases_of(f.selection_set, fragments) for f in fields if f.selection_set is not None)


def tokens_of(document: DocumentNode) -> int:
    token = document.loc.start_token if document.loc else None
    count = 0
    while token is not None:
        if token.kind not in (TokenKind.SOF, TokenKind.EOF, TokenKind.COMMENT):
            count += 1
        token = token.next
    return count


def is_introspection(document: DocumentNode) -> bool:
    fragments = fragments_of(document)
    roots = [f for op in _operations(document) for f in fields_of(op.selection_set, fragments)]
    return bool(roots) and all(f.name.value.startswith("__") for f in roots)


def symbols_of(operation: OperationDefinitionNode,
               fragments: Mapping[str, FragmentDefinitionNode],
               variables: Mapping[str, Any]) -> int:
    count = 0
    for field in fields_of(operation.selection_set, fragments):
        if field.name.value == "symbol":
            count += 1
        elif field.name.value == "symbols":
            for argument in field.arguments or ():
                if argument.name.value == "symbols":
                    value = value_from_ast_untyped(argument.value, dict(variables))
                    count += len(value) if isinstance(value, list) else 1
    return count


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def operation_variables(operation: OperationDefinitionNode,
                        variables: Mapping[str, Any]) -> dict[str, Any]:
    """Request values, falling back to each variable's default."""
    out: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in variables:
            out[name] = variables[name]
        elif definition.default_value is not None:
            out[name] = value_from_ast_untyped(definition.default_value)
    return out


def _message(what: str, found: int, tier: Tier, limit: int) -> str:
    return f"{what.format(found)} Allowed for the {tier.name} tier: {limit}."


def _operation_rule(check: Callable[[ValidationContext, OperationDefinitionNode], None]) -> Rule:
    class OperationRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            check(self.context, node)

    return OperationRule


def max_depth_rule(tier: Tier) -> Rule:
    def check(context: ValidationContext, op: OperationDefinitionNode) -> None:
        depth = depth_of(op.selection_set, fragments_of(context.document))
        if depth > tier.max_depth:
            context.report_error(too_complex(
                _message("Query depth {} found.", depth, tier, tier.max_depth),
                "maxDepth", tier.max_depth, depth, op))

    return _operation_rule(check)


def max_aliases_rule(tier: Tier) -> Rule:
    def check(context: ValidationContext, op: OperationDefinitionNode) -> None:
        aliases = aliases_of(op.selection_set, fragments_of(context.document))
        if aliases > tier.max_aliases:
            context.report_error(too_complex(
                _message("{} aliases found.", aliases, tier, tier.max_aliases),
                "maxAliases", tier.max_aliases, aliases, op))

    return _operation_rule(check)


def max_symbols_rule(tier: Tier, variables: Mapping[str, Any]) -> Rule:
    def check(context: ValidationContext, op: OperationDefinitionNode) -> None:
        found = symbols_of(op, fragments_of(context.document), operation_variables(op, variables))
        if found > tier.max_symbols:
            context.report_error(too_complex(
                _message("{} symbols requested.", found, tier, tier.max_symbols),
                "maxSymbols", tier.max_symbols, found, op))

    return _operation_rule(check)


def max_cost_rule(tier: Tier, variables: Mapping[str, Any], report: _CostReport) -> Rule:
    def check(context: ValidationContext, op: OperationDefinitionNode) -> None:
        root = context.schema.get_root_type(op.operation)
        if root is None:
            return
        walker = CostWalker(context.schema, fragments_of(context.document),
                            operation_variables(op, variables))
        cost = walker.cost(op.selection_set, root)
        report.cost = max(report.cost, cost)
        if tier.max_cost is not None and cost > tier.max_cost:
            context.report_error(too_complex(
                _message("Query cost {} found.", cost, tier, tier.max_cost),
                "maxCost", tier.max_cost, cost, op))

    return _operation_rule(check)


def max_tokens_rule(tier: Tier) -> Rule:
    class MaxTokens(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            tokens = tokens_of(node)
            if tokens > tier.max_tokens:
                self.report_error(too_complex(
                    _message("{} tokens found.", tokens, tier, tier.max_tokens),
                    "maxTokens", tier.max_tokens, tokens))

    return MaxTokens


class Validator:
    """Validates a document for a tier (and its variables) in one pass, with an LRU cache."""

    def __init__(self, schema: GraphQLSchema, cache_size: int = 1024,
                 cache_bytes: int = 32 * 1_048_576) -> None:
        self.schema = schema
        self.cache_size = cache_size
        # Keyed by the tier's name (unique in its table): hashing the tier itself hashes
        # every one of its limits, on every request.
        self._cache: BoundedCache[tuple[str, str, bytes], Validation] = BoundedCache(
            cache_bytes, cache_size)

    def __call__(self, query: str, document: DocumentNode, tier: Tier,
                 variables: Mapping[str, Any] | None) -> Validation:
        variables = variables or {}
        packed = orjson.dumps(shape_of(variables), option=orjson.OPT_SORT_KEYS) if variables else b""
        key = (query, tier.name, packed)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = self._validate(document, tier, variables)
        if len(packed) <= _CACHEABLE_VARIABLES:
            # Errors point at nodes, whose locations keep the document's tokens alive.
            held = document_bytes(document) if result.errors else 0
            self._cache.put(key, result, len(query) + len(packed) + held)
        return result

    def _validate(self, document: DocumentNode, tier: Tier,
                  variables: Mapping[str, Any]) -> Validation:
        report = _CostReport()
        rules: list[Rule] = [*specified_rules, max_aliases_rule(tier),
                             max_symbols_rule(tier, variables)]
        if not is_introspection(document):
            rules += [max_depth_rule(tier), max_tokens_rule(tier),
                      max_cost_rule(tier, variables, report)]
        errors = validate(self.schema, document, rules, max_errors=100)
        return Validation(tuple(errors), report.cost)
