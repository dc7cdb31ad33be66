"""Stored values, parsed: what one regime hash, novelty or correlation JSON says.

Redis holds strings written by several writers, so parsing is lenient in one direction
only: a missing or non-numeric optional field reads as ``None``; a value without its
required field (``regime`` of a hash, ``score`` of novelty, ``coefficient`` of a
correlation) reads as absent and is logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from types import MappingProxyType
from typing import Any

import orjson

from argus import keys

log = logging.getLogger("argus.values")

#: Numeric fields of ``argus-regime/2`` (docs/contract/clarifications.md §17, ``docs/signals.md``): served as
#: numbers, by REST when the hash has them and by GraphQL as nullable fields.
REGIME_MEASURES = ("drawdown", "efficiency", "variance_ratio")
_REGIME_FIELDS = frozenset({b"regime", b"model", b"confidence", b"volatility", b"trend",
                            b"computed_at", *(m.encode() for m in REGIME_MEASURES)})
_NO_EXTRA: Mapping[str, str] = MappingProxyType({})


def number(value: Any) -> float | None:
    """A finite float, or ``None`` for anything non-numeric (``nan``, ``true``, ``"n/a"``)."""
    kind = value.__class__
    if kind is float:  # JSON numbers (orjson) take this path
        return value if value - value == 0.0 else None  # inf - inf and nan are nan
    if kind is bytes or kind is str:  # hash fields: float() reads bytes as they come
        try:
            result = float(value)
        except ValueError:
            return None
        return result if result - result == 0.0 else None
    if kind is int:
        return float(value) if -1e308 < value < 1e308 else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def integer(value: Any) -> int | None:
    if value.__class__ is int:
        return int(value)
    result = number(value)
    if result is None or not result.is_integer():
        return None
    return int(result)


# Plain (not frozen) slotted classes: a frozen dataclass costs ~5x more to build, and a
# 1,000-symbol answer builds 8,000 of these. Nothing mutates them after parsing.
@dataclass(slots=True)
class Freshness:
    computed_at: float | None
    age_seconds: float | None
    stale: bool

    @classmethod
    def of(cls, computed_at: float | None, now: float, limit: float) -> Freshness:
        if computed_at is None:
            return cls(None, None, True)
        age = age_of(computed_at, now)
        return cls(computed_at, age, age > limit)


def age_of(computed_at: float, now: float) -> float:
    """Seconds from ``computed_at`` to ``now``, never negative, to the millisecond.

    ``round(age * 1000) / 1000`` rather than ``round(age, 3)``, which rounds through a
    decimal conversion at five times the cost (nine ages per symbol). Past 2**53 ms a float
    has no millisecond digit left to round.
    """
    age = now - computed_at
    if age <= 0.0:
        return 0.0
    scaled = age * 1000.0
    return round(scaled) / 1000.0 if scaled < 9e15 else age


Flat = list[bytes]  # a hash as RESP2 sends it: field, value, field, value, ...


def field_of(flat: Flat, name: bytes) -> bytes | None:
    """The value of field ``name`` in a flat hash reply.

    ``list.index`` runs in C; a hit at an odd position is a value equal to a field's name
    (a writer could store ``model = "trend"``), so the slow walk over field positions decides.
    """
    try:
        i = flat.index(name)
    except ValueError:
        return None
    if not i & 1:
        return flat[i + 1]
    for j in range(0, len(flat) - 1, 2):
        if flat[j] == name:
            return flat[j + 1]
    return None


def number_field(flat: Flat, name: bytes) -> float | None:
    """``number(field_of(flat, name))``, with the common case (a field at an even position
    holding a finite number) inline: Apex reads 8,000 confidences per answer."""
    try:
        i = flat.index(name)
    except ValueError:
        return None
    if i & 1:
        return number(field_of(flat, name))
    try:
        value = float(flat[i + 1])
    except ValueError:
        return None
    return value if value - value == 0.0 else None


def text_field(flat: Flat, name: bytes) -> str | None:
    value = field_of(flat, name)
    return None if value is None else value.decode("utf-8", "replace")


class RegimeValue:
    """One regime hash, its optional fields parsed when read: an Apex batch selects label
    and confidence of 8,000 hashes and should not pay for the fields it never reads.

    The hash stays the flat field/value list hiredis parsed: building a dict of each costs
    more than the two or three lookups a query makes.
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

    @property
    def confidence(self) -> float | None:
        return number_field(self._flat, b"confidence")

    @property
    def volatility(self) -> float | None:
        return number_field(self._flat, b"volatility")

    @property
    def trend(self) -> float | None:
        return number_field(self._flat, b"trend")

    @property
    def drawdown(self) -> float | None:
        return number_field(self._flat, b"drawdown")

    @property
    def efficiency(self) -> float | None:
        return number_field(self._flat, b"efficiency")

    @property
    def variance_ratio(self) -> float | None:
        return number_field(self._flat, b"variance_ratio")

    @property
    def measures(self) -> dict[str, float | None]:
        """The ``REGIME_MEASURES`` the hash has (a v1 hash has none), as numbers."""
        names = self._flat[::2]
        return {m: number_field(self._flat, m.encode()) for m in REGIME_MEASURES
                if m.encode() in names}

    @property
    def model(self) -> str | None:
        return text_field(self._flat, b"model")

    @property
    def freshness(self) -> Freshness:
        if self._freshness is None:
            self._freshness = Freshness.of(number_field(self._flat, b"computed_at"),
                                           self._now, self._limit)
        return self._freshness

    @property
    def extra(self) -> Mapping[str, str]:
        """Fields beyond the contract's (other writers'), passed through by REST."""
        flat = self._flat
        names = flat[::2]
        if len(names) <= len(_REGIME_FIELDS) and _REGIME_FIELDS.issuperset(names):
            return _NO_EXTRA
        return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                for k, v in zip(names, flat[1::2], strict=True) if k not in _REGIME_FIELDS}

    def _public(self) -> tuple[Any, ...]:
        return (self.timeframe, self.label, self.confidence, self.volatility, self.trend,
                self.model, self.freshness, self.measures, dict(self.extra))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegimeValue) and self._public() == other._public()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RegimeValue{self._public()!r}"


@dataclass(slots=True)
class NoveltyValue:
    score: float
    zscore: float | None
    percentile: float | None
    window: int | None
    freshness: Freshness


@dataclass(slots=True)
class CorrelationValue:
    partner: str
    coefficient: float
    window: int | None
    computed_at: float | None


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


def _json_object(raw: bytes | str | None) -> dict[str, Any] | str | None:
    """``raw`` as a JSON object; ``None`` when absent; else why it is unusable (a warning
    for the caller to log with the key's name, which is formatted only then)."""
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "holds invalid JSON"
    if value.__class__ is not dict:
        return "holds JSON that is not an object"
    return value


def parse_novelty(symbol: str, raw: bytes | str | None, now: float,
                  freshness_limit: float) -> NoveltyValue | None:
    value = _json_object(raw)
    if not isinstance(value, dict):
        if value is not None:
            log.warning("%s %s; treated as absent", keys.novelty(symbol), value)
        return None
    score = number(value.get("score"))
    if score is None:
        log.warning("%s has no numeric 'score'; treated as absent", keys.novelty(symbol))
        return None
    return NoveltyValue(score, number(value.get("zscore")), number(value.get("percentile")),
                        integer(value.get("window")),
                        Freshness.of(number(value.get("computed_at")), now, freshness_limit))


def parse_correlations(symbol: str, partners: Sequence[str],
                       replies: Sequence[bytes | str | None]) -> list[CorrelationValue]:
    """The ``GET`` replies of ``symbol``'s correlations with ``partners``, present and usable
    ones only, strongest first: by |coefficient| descending, ties by partner (``docs/contract/api.md``).

    One loop per symbol with the common case inline (a float coefficient, an int window, a
    float time: what every writer's JSON holds); anything else takes ``number``/``integer``.
    The key is formatted only for a warning.
    """
    keyed: list[tuple[float, str, CorrelationValue]] = []
    loads = orjson.loads
    for partner, raw in zip(partners, replies, strict=True):
        if raw is None:
            continue  # expired since discovery
        try:
            value = loads(raw)
        except orjson.JSONDecodeError:
            log.warning("%s holds invalid JSON; treated as absent", keys.corr(symbol, partner))
            continue
        if value.__class__ is not dict:
            log.warning("%s holds JSON that is not an object; treated as absent",
                        keys.corr(symbol, partner))
            continue
        coefficient = value.get("coefficient")
        if coefficient.__class__ is not float or not -1.0 <= coefficient <= 1.0:
            coefficient = number(coefficient)
            if coefficient is None or not -1.0 <= coefficient <= 1.0:
                log.warning("%s has no 'coefficient' in -1..1; treated as absent",
                            keys.corr(symbol, partner))
                continue
        window = value.get("window")
        if window.__class__ is not int:
            window = integer(window)
        computed_at = value.get("computed_at")
        if computed_at.__class__ is not float or computed_at - computed_at:
            computed_at = number(computed_at)
        keyed.append((-abs(coefficient), partner,
                      CorrelationValue(partner, coefficient, window, computed_at)))
    keyed.sort(key=_STRENGTH_THEN_PARTNER)
    return [value for _, _, value in keyed]


_STRENGTH_THEN_PARTNER = itemgetter(0, 1)


def chosen(items: list[CorrelationValue], first: int | None,
           min_abs: float | None) -> list[CorrelationValue]:
    """``correlations(first:, minAbs:)`` over items already strongest first."""
    if min_abs is not None:
        items = [c for c in items if abs(c.coefficient) >= min_abs]
    return items[:first]
