"""The regime namespace: one hash per symbol and timeframe, ``regime:{SYM}:<tf>``.

A hash holds its label (``regime``, required), the time it was computed (``computed_at``)
and the values of ``FIELDS``. ``docs/signals.md`` says what each measures.

Adding a field: declare it in ``FIELDS`` (its place there is its place in the GraphQL type),
compute it in ``argus/writer/compute.py``, regenerate ``schema.graphql`` (``argus schema
export``) and test it: the compiled path, the Strawberry type, the REST body and the
writer's Lua arguments follow from the declaration (``tests/data/test_namespaces.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from argus import keys
from argus.data.namespaces import Field, Fields, Kind
from argus.data.values import Flat, Freshness, field_of, integer_field, log, number_field, text_field
from argus.keys import Namespace

if TYPE_CHECKING:
    from collections.abc import Callable

    from argus.data.loaders import SymbolData
    from argus.data.store import Command, SymbolIndex
    from argus.settings import Settings

NAME: Namespace = "regime"

#: The required field: a hash without a label is absent.
LABEL = "regime"
#: When the hash was computed: its age and staleness are measured from it.
COMPUTED_AT = "computed_at"

_ADDED = "argus-regime/2"

#: The hash's values beside its label and time, in the GraphQL type's order. The contract's
#: fields (``docs/contract/api.md``) and ``argus-regime/2``'s (clarifications §17).
FIELDS: Fields = (
    Field("confidence"),
    Field("volatility", description="Annualised realised volatility."),
    Field("trend", description="Signed trend strength."),
    Field("drawdown", contract=False,
          description=f"Close against the running peak, minus 1 (≤ 0); {_ADDED}."),
    Field("efficiency", contract=False,
          description=f"Kaufman efficiency ratio over the trend horizon, 0..1; {_ADDED}."),
    Field("variance_ratio", contract=False,
          description=f"Lo–MacKinlay variance ratio; below 1 is mean reversion; {_ADDED}."),
    Field("model", kind="text"),
)

_READ: dict[Kind, Callable[[Flat, bytes], Any]] = {
    "number": number_field, "text": text_field, "integer": integer_field}
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


def known(fields: Fields = FIELDS) -> frozenset[bytes]:
    """The hash fields ``fields`` declares, label and time included: the rest are extra."""
    return frozenset({LABEL.encode(), COMPUTED_AT.encode(), *(f.key for f in fields)})


_KNOWN = known()
_BY_NAME = {f.name: f for f in FIELDS}
_COMPUTED_AT = COMPUTED_AT.encode()


class RegimeValue:
    """One regime hash, its fields parsed when read: an Apex batch selects label and
    confidence of 8,000 hashes and should not pay for the fields it never reads.

    The hash stays the flat field/value list hiredis parsed: building a dict of each costs
    more than the two or three lookups a query makes. ``get(field)`` reads one of
    ``FIELDS``; ``value.confidence`` (any declared field's name) is the same read.
    """

    __slots__ = ("_flat", "_freshness", "_limit", "_now", "label", "timeframe")

    def __init__(self, timeframe: str, label: str, flat: Flat, now: float,
                 freshness_limit: float) -> None:
        self.timeframe = timeframe
        self.label = label
        self._flat = flat
        self._now = now
        self._limit = freshness_limit
        self._freshness: Freshness | None = None

    def get(self, field: Field) -> Any:
        """The value of ``field``: a finite float, text, an int, or ``None``."""
        return _READ[field.kind](self._flat, field.key)

    def __getattr__(self, name: str) -> Any:
        field = _BY_NAME.get(name)
        if field is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.get(field)

    def has(self, field: Field) -> bool:
        """Whether the hash holds ``field`` (REST lists an added field only then)."""
        return field.key in self._flat[::2]

    @property
    def freshness(self) -> Freshness:
        if self._freshness is None:
            self._freshness = Freshness.of(number_field(self._flat, _COMPUTED_AT),
                                           self._now, self._limit)
        return self._freshness

    @property
    def extra(self) -> Mapping[str, str]:
        """Fields beyond the declared ones (other writers'), passed through by REST."""
        return self.extra_beyond(_KNOWN)

    def extra_beyond(self, declared: frozenset[bytes]) -> Mapping[str, str]:
        flat = self._flat
        names = flat[::2]
        if len(names) <= len(declared) and declared.issuperset(names):
            return _NO_EXTRA
        return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                for k, v in zip(names, flat[1::2], strict=True) if k not in declared}

    def _public(self) -> tuple[Any, ...]:
        return (self.timeframe, self.label, tuple(self.get(f) for f in FIELDS),
                tuple(f.name for f in FIELDS if self.has(f)), self.freshness, dict(self.extra))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegimeValue) and self._public() == other._public()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RegimeValue{self._public()!r}"


def _flat_bytes(raw: Flat | list[str] | Mapping[Any, Any]) -> Flat:
    """A hash reply of another shape (a mapping from redis-py or RESP3, str from a decoding
    client) as the flat list of bytes hiredis gives Argus' own client."""
    items: Any = raw.items() if isinstance(raw, Mapping) else zip(raw[::2], raw[1::2], strict=True)
    return [x.encode() if isinstance(x, str) else x for pair in items for x in pair]


#: One present regime hash, checked but not parsed: its timeframe, its label, the hash as
#: its flat field/value list, and the timeframe's freshness limit. A plain tuple: an Apex
#: answer holds 8,000 of them, and the compiled path reads them without building a
#: ``RegimeValue`` (``argus.graphql.compiled``).
RegimeItem = tuple[str, str, Flat, float]


def regime_values(items: Sequence[RegimeItem], now: float) -> list[RegimeValue]:
    return [RegimeValue(tf, label, flat, now, limit) for tf, label, flat, limit in items]


def regime_items(symbol: str, timeframes: Sequence[str], replies: Sequence[Any],
                 limits: Mapping[str, float]) -> list[RegimeItem]:
    """The ``HGETALL`` replies of ``timeframes``, present ones only (one loop, no call per
    hash: Apex reads 8,000 of them per answer)."""
    out: list[RegimeItem] = []
    for timeframe, raw in zip(timeframes, replies, strict=True):
        if not raw:
            continue  # expired since discovery, or never written: absent, not an error
        flat: Flat = raw if raw.__class__ is list and raw[0].__class__ is bytes else _flat_bytes(raw)
        try:
            i = flat.index(b"regime")
            label = field_of(flat, b"regime") if i & 1 else flat[i + 1]
        except ValueError:
            label = None
        if not label:
            log.warning("regime hash %s has no 'regime' field; treated as absent",
                        keys.regime(symbol, timeframe))
            continue
        out.append((timeframe, label.decode("utf-8", "replace"), flat, limits[timeframe]))
    return out


def commands(index: SymbolIndex) -> list[Command]:
    """``HGETALL`` of each of the symbol's regime hashes, in the index's timeframe order."""
    names = index.regime_names or [keys.regime(index.symbol, tf) for tf in index.timeframes]
    return [("HGETALL", name) for name in names]


def read(data: SymbolData, index: SymbolIndex, replies: Sequence[object], settings: Settings,
         now: float) -> int:
    """The replies of ``commands(index)`` (the first of ``replies``) into ``data``; how many."""
    count = len(index.timeframes)
    mine = replies if len(replies) == count else replies[:count]
    data.regime_items = regime_items(index.symbol, index.timeframes, mine, settings.freshness) or None
    data.read_at = now
    return count
