"""Compiled responses for hot query shapes (as graphql-jit does): no per-field execution.

graphql-core's per-field execution costs far more than writing the answer's JSON (README,
Benchmarks). For a validated document of a known shape, ``execute`` builds the
response dict directly from the loader's data; everything else goes to graphql-core.

The compiled shape: one query operation without directives or fragments whose single root
field is ``symbol(symbol:)`` or ``symbols(symbols:)``, selecting ``Symbol`` fields (``symbol``,
``input``, ``regime``, ``novelty``, ``correlations`` with ``partner { symbol input }``) and
their leaves, aliases and ``__typename`` included. A nested partner level, fragments,
``@skip``/``@include``, repeated response keys or several root fields fall back.

A subscription event has a compiled shape too (``EventShape``): one subscription operation
without directives or fragments whose root field is ``regimeChanges``, selecting the
change's leaves and at most one ``symbol { ... }`` of the Symbol fields above. Its
arguments and plan are bound once per subscription (``EventShape.bind``); each event then
builds its dict, with the symbol loaded by the event's loader as graphql-core's resolver
loads it (the changes of one read batch their loads). An event whose load fails goes to
graphql-core, which reports the error as it always does.

It gives the same bytes as graphql-core on the same data (``tests/graphql/test_compiled.py`` runs
every query of the suite through both): variables and arguments are coerced by
graphql-core's own functions (a coercion problem falls back, so graphql-core reports it),
the root runs the resolvers' steps in their order (normalize, plan, load, NOT_FOUND), and
errors are located exactly as graphql-core locates them. It runs after validation, limits
and the budget, with the request's context and loaders.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    ListTypeNode,
    NamedTypeNode,
    Node,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    located_error,
)
from graphql.execution.values import get_argument_values, get_variable_values

from argus import keys
from argus.data.bounded_cache import BoundedCache, document_bytes
from argus.data.loaders import SymbolData
from argus.data.namespaces import Fields, correlations, novelty, regime
from argus.data.namespaces.correlations import chosen
from argus.data.values import NUMBER_FIELD, TEXT_FIELD, age_of, field_of, inline, integer_field, number
from argus.graphql import resolvers
from argus.graphql.selection import Plan, operation_of, operations_of, plan_for
from argus.graphql.types import RegimeChange, Symbol

_TF_NAME = {tf.value: tf.name for tf in keys.Timeframe}


@lru_cache(maxsize=4_096)
def _iso(seconds: float | None) -> str | None:
    # Cached: a writer stamps many values with one time, and rewrites them once a minute.
    # A few thousand recent times are enough for that; each entry holds about 300 bytes, so
    # a keyspace whose every value has its own time (the soak's) would otherwise grow the
    # process by 19 MB before the cache is full.
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC).isoformat()


# Each leaf is a Python expression giving what graphql-core would serialize, over ``v`` (a
# value of ``argus.data.namespaces``). A selection compiles into one dict display, evaluated
# once per shape (as graphql-jit generates code): no per-field call at request time. Only
# these fixed expressions and response keys (GraphQL names, quoted with repr) enter the
# code. A namespace's declared ``FIELDS`` give its plain leaves; the rest are written here.
#
# Regimes are compiled into a whole function over the hash items (``regime.RegimeItem``:
# ``tf``, ``label``, the flat hash ``flat``, the freshness ``limit``) and ``now``, with each
# hash field the selection reads parsed inline (``_read_number``): an Apex answer reads
# 8,000 hashes and builds no ``RegimeValue`` and calls no helper per field.
def _regime_leaves(fields: Fields) -> tuple[dict[str, str], dict[str, str]]:
    """The regime leaf table and the hash field each leaf reads (``computed_at``: then
    ``age`` and ``stale`` too); a declared field's leaf is its ``x_<name>`` variable."""
    table = {"timeframe": "TF[tf]", "label": "label",
             **{f.graphql: f"x_{f.name}" for f in fields},
             "computedAt": f"ISO(x_{regime.COMPUTED_AT})", "ageSeconds": "age", "stale": "stale",
             "__typename": "'Regime'"}
    reads = {**{f.graphql: f.name for f in fields},
             **dict.fromkeys(("computedAt", "ageSeconds", "stale"), regime.COMPUTED_AT)}
    return table, reads


_REGIME, _REGIME_READS = _regime_leaves(regime.FIELDS)
_NOVELTY = {
    **{f.graphql: f"v.{f.name}" for f in novelty.FIELDS},
    "computedAt": "ISO(v.freshness.computed_at)", "ageSeconds": "v.freshness.age_seconds",
    "stale": "v.freshness.stale", "__typename": "'Novelty'",
}  # fmt: skip
_CORRELATION = {
    **{f.graphql: f"v.{f.name}" for f in correlations.FIELDS},
    "computedAt": "ISO(v.computed_at)", "__typename": "'Correlation'",
}  # fmt: skip
_PARTNER = {"symbol": "v.partner", "input": "v.partner", "__typename": "'Symbol'"}
_GLOBALS = {"__builtins__": {}, "TF": _TF_NAME, "ISO": _iso, "number": number,
            "field_of": field_of, "INT": integer_field, "AGE": age_of, "float": float,
            "ValueError": ValueError}


def _generate(source: str) -> Callable[..., Any]:
    return eval(source, dict(_GLOBALS))  # type: ignore[no-any-return]


def _define(source: str, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = dict(_GLOBALS)
    exec(source, namespace)
    return namespace[name]  # type: ignore[no-any-return]


def _read_number(field: str, pad: str) -> str:
    """Statements setting ``x_<field>`` to ``values.number_field(flat, b'<field>')``: the
    same source (``values.NUMBER_FIELD``), inlined, so a finite number takes no call."""
    return inline(NUMBER_FIELD, f"x_{field}", f"b{field!r}", pad)


def _read_text(field: str, pad: str) -> str:
    """``values.text_field(flat, b'<field>')`` inline (``values.TEXT_FIELD``), as ``x_<field>``."""
    return inline(TEXT_FIELD, f"x_{field}", f"b{field!r}", pad)


def _read_integer(field: str, pad: str) -> str:
    """``values.integer_field(flat, b'<field>')`` as ``x_<field>`` (no hash field is an
    integer today: a call, not a template)."""
    return f"{pad}x_{field} = INT(flat, b{field!r})\n"


_READERS = {"number": _read_number, "text": _read_text, "integer": _read_integer}


def _regime_builder(selection_set: SelectionSetNode | None,
                    fields: Fields = regime.FIELDS) -> Callable[..., Any]:
    """``regimes(items, now, wanted)``: the response list of a regime selection, only the
    timeframes in ``wanted`` unless it is ``None`` (``regime.RegimeValue`` and
    ``values.Freshness`` give the same values; ``tests/graphql/test_compiled.py`` holds them
    to it). ``fields``: the hash's declared fields (``regime.FIELDS``)."""
    table, leaf_reads = (_REGIME, _REGIME_READS) if fields is regime.FIELDS else _regime_leaves(fields)
    display = _display(selection_set, table)
    reads = {leaf_reads[node.name.value] for node in _selections(selection_set)
             if node.name.value in leaf_reads}
    pad = " " * 8
    body = "".join(_READERS[f.kind](f.name, pad) for f in fields if f.name in reads)
    if regime.COMPUTED_AT in reads:
        x = f"x_{regime.COMPUTED_AT}"  # the leaf table's computedAt reads it too
        body += _read_number(regime.COMPUTED_AT, pad)
        body += (f"{pad}if {x} is None:\n{pad}    age, stale = None, True\n"
                 f"{pad}else:\n{pad}    age = AGE({x}, now)\n"
                 f"{pad}    stale = age > limit\n")
    source = ("def regimes(items, now, wanted):\n"
              "    out = []\n"
              "    for tf, label, flat, limit in items:\n"
              "        if wanted is not None and tf not in wanted:\n"
              "            continue\n"
              f"{body}"
              f"        out.append({display})\n"
              "    return out\n")
    return _define(source, "regimes")


class _Unsupported(Exception):
    """The document is not of a compiled shape: graphql-core executes it."""


@dataclass(frozen=True, slots=True)
class _Field:
    key: str  # response key (alias or name)
    name: str
    node: FieldNode
    one: Callable[[Any], Any] | None = None  # value -> dict
    many: Callable[..., Any] | None = None  # values -> [dict]; regime: (items, now, wanted)


@dataclass(slots=True)
class Shape:
    operation: OperationDefinitionNode
    root: FieldNode
    fields: tuple[_Field, ...]
    #: (argument, variable, is a list) when the root's argument is the operation's only
    #: variable, ``String!`` or ``[String!]!`` without a default; else ``None``.
    root_variable: tuple[str, str, bool] | None = None
    #: No variable below the root field: its arguments, plan and builder never change.
    static: bool = False
    #: What a static shape computed once: (field arguments, plan, builder).
    memo: tuple[dict[str, dict[str, Any]], Plan, Callable[[Symbol], dict[str, Any]]] | None = None


def _selections(selection_set: SelectionSetNode | None) -> list[FieldNode]:
    if selection_set is None:
        raise _Unsupported
    out: list[FieldNode] = []
    seen: set[str] = set()
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives:
            raise _Unsupported  # fragments, @skip/@include
        key = (selection.alias or selection.name).value
        if key in seen:
            raise _Unsupported  # field merging is graphql-core's business
        seen.add(key)
        out.append(selection)
    return out


def _display(selection_set: SelectionSetNode | None, table: dict[str, str],
             partner: dict[str, str] | None = None) -> str:
    """The dict display building one value's response (``partner``: a nested Symbol)."""
    items = []
    for node in _selections(selection_set):
        name = node.name.value
        if partner is not None and name == "partner":
            expr = _display(node.selection_set, partner)
        elif name in table and node.selection_set is None:
            expr = table[name]
        else:
            raise _Unsupported
        items.append(f"{(node.alias or node.name).value!r}: {expr}")
    return "{" + ", ".join(items) + "}"


def _symbol_fields(selection_set: SelectionSetNode | None) -> tuple[_Field, ...]:
    out = []
    for node in _selections(selection_set):
        key, name = (node.alias or node.name).value, node.name.value
        if name in ("symbol", "input", "__typename"):
            out.append(_Field(key, name, node))
        elif name == "regime":
            out.append(_Field(key, name, node, many=_regime_builder(node.selection_set)))
        elif name == "novelty":
            out.append(_Field(key, name, node, one=_generate(
                f"lambda v: {_display(node.selection_set, _NOVELTY)}")))
        elif name == "correlations":
            d = _display(node.selection_set, _CORRELATION, _PARTNER)
            out.append(_Field(key, name, node, many=_generate(f"lambda items: [{d} for v in items]")))
        else:
            raise _Unsupported
    return tuple(out)


def compile_shape(document: DocumentNode, operation_name: str | None) -> Shape | None:
    """The compiled shape of ``document``'s operation, or ``None`` for graphql-core."""
    if len(operations_of(document)) != len(document.definitions):
        return None  # fragment definitions
    operation = operation_of(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY or operation.directives:
        return None
    try:
        roots = _selections(operation.selection_set)
        if len(roots) != 1 or roots[0].name.value not in ("symbol", "symbols"):
            return None
        root = roots[0]
        return Shape(operation, root, _symbol_fields(root.selection_set),
                     _root_variable(operation, root), not _has_variables(root.selection_set))
    except _Unsupported:
        return None


def _root_variable(operation: OperationDefinitionNode, root: FieldNode) -> tuple[str, str, bool] | None:
    definitions, arguments = operation.variable_definitions or (), root.arguments or ()
    if len(definitions) != 1 or len(arguments) != 1:
        return None
    definition, argument = definitions[0], arguments[0]
    name = definition.variable.name.value
    if (definition.default_value is not None or not isinstance(argument.value, VariableNode)
            or argument.value.name.value != name or not isinstance(definition.type, NonNullTypeNode)):
        return None
    kind = definition.type.type
    if isinstance(kind, ListTypeNode):
        if not isinstance(kind.type, NonNullTypeNode):
            return None
        kind, is_list = kind.type.type, True
    else:
        is_list = False
    if not isinstance(kind, NamedTypeNode) or kind.name.value != "String":
        return None
    return argument.name.value, name, is_list


def _has_variables(node: Node | None) -> bool:
    """Whether a variable occurs anywhere in ``node`` (arguments of nested fields included)."""
    if node is None:
        return False
    if isinstance(node, VariableNode):
        return True
    for key in node.keys:
        value = getattr(node, key, None)
        children = value if isinstance(value, tuple | list) else (value,)
        if any(isinstance(c, Node) and _has_variables(c) for c in children):
            return True
    return False


def _root_arguments(shape: Shape, variables: dict[str, Any] | None) -> dict[str, Any] | None:
    """The root's arguments without graphql-core's coercion, when its one variable holds
    exactly its type (a str for ``String!``, a list of str for ``[String!]!``): coercion is
    then the identity, at one call per value (1,000 for Apex). Anything else (null, a number,
    a single string for a list) returns ``None``: graphql-core coerces or reports it."""
    if shape.root_variable is None or not variables or len(variables) != 1:
        return None
    argument, name, is_list = shape.root_variable
    value = variables.get(name)
    if is_list:
        if value.__class__ is not list or not all(v.__class__ is str for v in value):
            return None
    elif value.__class__ is not str:
        return None
    return {argument: value}


#: A change's leaves over ``v`` (a ``types.RegimeChange``), as graphql-core serializes them.
_CHANGE = {
    "id": "v.id", "timeframe": "v.timeframe.name", "label": "v.label", "previous": "v.previous",
    "computedAt": "None if v.computed_at is None else v.computed_at.isoformat()",
    "__typename": "'RegimeChange'",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class EventShape:
    """A compiled ``regimeChanges`` selection: its leaves and its one ``symbol``, if any."""

    root: FieldNode
    #: The change's response dict in selection order, ``symbol`` (if selected) ``None``.
    leaves: Callable[[RegimeChange], dict[str, Any]]
    symbol: FieldNode | None
    symbol_fields: tuple[_Field, ...]

    def bind(self, schema: GraphQLSchema, variables: Any) -> EventRenderer | None:
        """The renderer of this subscription's events (``variables``: the executor's
        coerced values); ``None`` when an argument does not coerce (graphql-core reports)."""
        key = (self.root.alias or self.root.name).value
        if self.symbol is None:
            return EventRenderer(key, self.leaves)
        try:
            symbol_def = schema.get_type("Symbol")
            field_args = {f.key: get_argument_values(symbol_def.fields[f.name], f.node, variables)  # type: ignore[union-attr]
                          for f in self.symbol_fields if f.name in ("regime", "correlations")}
            plan = plan_for([self.symbol], {}, getattr(variables, "coerced", variables))
        except Exception:  # graphql-core locates whatever this was
            return None
        return EventRenderer(key, self.leaves, (self.symbol.alias or self.symbol.name).value,
                             plan, _builder(self.symbol_fields, field_args))


@dataclass(frozen=True, slots=True)
class EventRenderer:
    """One subscription's events as results, built without graphql-core's execution."""

    key: str
    leaves: Callable[[RegimeChange], dict[str, Any]]
    symbol_key: str | None = None
    plan: Plan | None = None
    build: Callable[[Symbol], dict[str, Any]] | None = None

    def now(self, change: RegimeChange) -> ExecutionResult:
        """The result of an event that selects no ``symbol``."""
        return ExecutionResult({self.key: self.leaves(change)}, None)

    async def later(self, change: RegimeChange, context: Any) -> ExecutionResult:
        """The result of an event that selects its ``symbol``: loaded by the event's loader
        (raises what the load raises: the caller then lets graphql-core report it)."""
        assert self.plan is not None
        assert self.symbol_key is not None
        assert self.build is not None
        data = await context.intelligence.load((change.canonical, self.plan.needs))
        out = self.leaves(change)  # the symbol's key is there already, in its place
        out[self.symbol_key] = self.build(Symbol(symbol=change.canonical, input=change.canonical,
                                                 data=data, plan=self.plan))
        return ExecutionResult({self.key: out}, None)


def compile_event_shape(document: DocumentNode, operation_name: str | None) -> EventShape | None:
    """The compiled shape of a ``regimeChanges`` subscription, or ``None`` for graphql-core."""
    if len(operations_of(document)) != len(document.definitions):
        return None
    operation = operation_of(document, operation_name)
    if (operation is None or operation.operation is not OperationType.SUBSCRIPTION
            or operation.directives):
        return None
    try:
        roots = _selections(operation.selection_set)
        if len(roots) != 1 or roots[0].name.value != "regimeChanges":
            return None
        root = roots[0]
        leaves, symbol = [], None
        for node in _selections(root.selection_set):
            key, name = (node.alias or node.name).value, node.name.value
            if name == "symbol" and symbol is None:
                symbol = node
                leaves.append(f"{key!r}: None")  # filled in per event, in this place
            elif name in _CHANGE and node.selection_set is None:
                leaves.append(f"{key!r}: {_CHANGE[name]}")
            else:
                raise _Unsupported
        fields = _symbol_fields(symbol.selection_set) if symbol is not None else ()
    except _Unsupported:
        return None
    return EventShape(root, _generate("lambda v: {" + ", ".join(leaves) + "}"), symbol, fields)


class Compiler:
    """Compiled shapes by document (parsed documents are cached, so identity is stable).

    One per ``graphql.engine.Engine``, its only caller: the shape cache is the engine's.
    """

    def __init__(self, schema: GraphQLSchema, cache_size: int = 1024,
                 cache_bytes: int = 32 * 1_048_576) -> None:
        self.schema = schema
        self.cache_size = cache_size
        # Keyed by the document's text, not by ``id()``: a freed document's address comes
        # back for the next one, which the doorkeeper took for a second use.
        self._shapes: BoundedCache[tuple[str, str | None], tuple[Shape | None]] = BoundedCache(
            cache_bytes, cache_size, admit_on_reuse=True)

    def shape(self, document: DocumentNode, operation_name: str | None) -> Shape | None:
        if document.loc is None:  # parsed without locations: no text to key it by
            return compile_shape(document, operation_name)
        key = (document.loc.source.body, operation_name)
        hit = self._shapes.get(key)
        if hit is not None:
            return hit[0]
        shape = compile_shape(document, operation_name)
        # A shape's code is no larger than its document.
        self._shapes.put(key, (shape,), 2 * document_bytes(document))
        return shape

    async def execute(self, document: DocumentNode, context: Any,
                      variables: dict[str, Any] | None,
                      operation_name: str | None) -> ExecutionResult | None:
        """The result for a compiled shape; ``None`` when graphql-core must execute it."""
        shape = self.shape(document, operation_name)
        if shape is None:
            return None
        nodes = [shape.root]
        memo = shape.memo
        args = _root_arguments(shape, variables) if memo is not None else None
        plan: resolvers.Planned
        if memo is not None and args is not None:
            # A static shape whose variable holds its type: nothing to coerce or recompute.
            field_args, plan, build = memo
        else:
            coerced = get_variable_values(self.schema, shape.operation.variable_definitions or (),
                                          variables or {})
            if isinstance(coerced, list):
                return None  # graphql-core reports variable errors
            try:
                root_def = self.schema.query_type.fields[shape.root.name.value]  # type: ignore[union-attr]
                args = get_argument_values(root_def, shape.root, coerced)
                symbol_def = self.schema.get_type("Symbol")
                field_args = {f.key: get_argument_values(symbol_def.fields[f.name], f.node, coerced)  # type: ignore[union-attr]
                              for f in shape.fields if f.name in ("regime", "correlations")}
            except GraphQLError:
                return None
            build = _builder(shape.fields, field_args)
            if shape.static and memo is None:
                # A plan that raises (bad literal arguments, or a bug) is not remembered:
                # the resolver raises it again, where it is located like any field error.
                with contextlib.suppress(Exception):
                    shape.memo = (field_args, plan_for(nodes, {}, coerced.coerced), build)
            # Computed by the resolver after it normalizes, as on graphql-core's path.
            plan = lambda: plan_for(nodes, {}, coerced.coerced)  # noqa: E731
        key = (shape.root.alias or shape.root.name).value
        # The root runs the resolvers themselves, so both paths share every step.
        if shape.root.name.value == "symbol":
            try:
                symbol = await resolvers.resolve_symbol(context, plan, args["symbol"],
                                                        whole_level=True)
            except Exception as exc:
                return ExecutionResult({key: None}, [located_error(exc, nodes, [key])])
            return ExecutionResult({key: None if symbol is None else build(symbol)}, None)
        try:
            entries = await resolvers.resolve_symbols(context, plan, args["symbols"],
                                                      whole_level=True)
        except Exception as exc:  # symbols is non-null: the null bubbles up to data
            return ExecutionResult(None, [located_error(exc, nodes, [key])])
        errors: list[GraphQLError] = []
        out: list[Any] = []
        for i, entry in enumerate(entries):
            if isinstance(entry, Exception):
                errors.append(located_error(entry, nodes, [key, i]))
                out.append(None)
            else:
                out.append(None if entry is None else build(entry))
        return ExecutionResult({key: out}, errors or None)


def _builder(fields: tuple[_Field, ...],
             field_args: dict[str, dict[str, Any]]) -> Callable[[Symbol], dict[str, Any]]:
    """A function from one symbol's data to its response dict, for this request's arguments."""
    steps: list[tuple[str, Callable[[SymbolData, str, str], Any]]] = []
    for f in fields:
        if f.name == "symbol":
            steps.append((f.key, lambda d, c, r: c))
        elif f.name == "input":
            steps.append((f.key, lambda d, c, r: r))
        elif f.name == "__typename":
            steps.append((f.key, lambda d, c, r: "Symbol"))
        elif f.name == "regime":
            steps.append((f.key, _regimes(f, field_args[f.key].get("timeframes"))))
        elif f.name == "novelty":
            steps.append((f.key, _novelty(f)))
        else:
            args = field_args[f.key]
            steps.append((f.key, _correlations(f, args.get("first", 20), args.get("minAbs"))))

    def build(symbol: Symbol) -> dict[str, Any]:
        data = symbol.data
        assert data is not None  # the root level is always loaded
        canonical, raw = symbol.symbol, symbol.input
        return {key: step(data, canonical, raw) for key, step in steps}

    return build


def _regimes(f: _Field, timeframes: Any) -> Callable[[SymbolData, str, str], Any]:
    many = f.many
    assert many is not None
    wanted = ({tf.value if isinstance(tf, Enum) else tf for tf in timeframes}
              if isinstance(timeframes, list) else None)
    return lambda data, c, r: (None if data.regime_items is None
                               else many(data.regime_items, data.read_at, wanted))


def _novelty(f: _Field) -> Callable[[SymbolData, str, str], Any]:
    one = f.one
    assert one is not None
    return lambda data, c, r: None if data.novelty is None else one(data.novelty)


def _correlations(f: _Field, first: int | None, min_abs: Any) -> Callable[[SymbolData, str, str], Any]:
    threshold = min_abs if isinstance(min_abs, float | int) else None
    many = f.many
    assert many is not None

    def correlations(data: SymbolData, c: str, r: str) -> list[dict[str, Any]] | None:
        if data.correlations is None:
            return None
        return many(chosen(data.correlations, first, threshold))  # type: ignore[no-any-return]

    return correlations
