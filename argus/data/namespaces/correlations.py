"""The correlation namespace: one JSON object per symbol and partner, ``corr:{SYM}:<partner>``.

The object holds ``coefficient`` (required, in -1..1), the other ``FIELDS`` and
``computed_at``; the partner comes from the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING

import orjson

from argus import keys
from argus.data.namespaces import Field, Fields
from argus.data.values import integer, log, number
from argus.keys import Namespace

if TYPE_CHECKING:
    from argus.data.loaders import SymbolData
    from argus.data.store import Command, SymbolIndex
    from argus.settings import Settings

NAME: Namespace = "corr"

#: The object's values beside ``computed_at``, in the GraphQL type's order;
#: ``CorrelationValue`` has an attribute of each name.
FIELDS: Fields = (
    Field("coefficient", required=True),
    Field("window", kind="integer"),
)


@dataclass(slots=True)
class CorrelationValue:
    partner: str
    coefficient: float
    window: int | None
    computed_at: float | None


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


def commands(index: SymbolIndex) -> list[Command]:
    """``GET`` of each of the symbol's correlation keys, in the index's partner order."""
    names = index.partner_names or [keys.corr(index.symbol, p) for p in index.partners]
    return [("GET", name) for name in names]


def read(data: SymbolData, index: SymbolIndex, replies: Sequence[object], settings: Settings,
         now: float) -> int:
    """The replies of ``commands(index)`` (the first of ``replies``) into ``data``; how many."""
    count = len(index.partners)
    mine = replies if len(replies) == count else replies[:count]
    data.correlations = parse_correlations(index.symbol, index.partners,
                                           mine) or None  # type: ignore[arg-type]
    return count
