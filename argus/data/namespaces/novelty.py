"""The novelty namespace: one JSON object per symbol, ``novelty:{SYM}``.

The object holds ``score`` (required), the other ``FIELDS`` and ``computed_at`` (its age and
staleness are measured from it against ``ARGUS_NOVELTY_FRESHNESS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from argus import keys
from argus.data.namespaces import Field, Fields
from argus.data.values import Freshness, integer, log, number
from argus.keys import Namespace

if TYPE_CHECKING:
    from argus.data.loaders import SymbolData
    from argus.data.store import Command, SymbolIndex
    from argus.settings import Settings

NAME: Namespace = "novelty"

#: The object's values beside ``computed_at``, in the GraphQL type's order; ``NoveltyValue``
#: has an attribute of each name.
FIELDS: Fields = (
    Field("score", required=True),
    Field("zscore"),
    Field("percentile"),
    Field("window", kind="integer"),
)


# Plain (not frozen) slotted classes: a frozen dataclass costs more to build, and nothing
# mutates them after parsing.
@dataclass(slots=True)
class NoveltyValue:
    score: float
    zscore: float | None
    percentile: float | None
    window: int | None
    freshness: Freshness


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


def commands(index: SymbolIndex) -> list[Command]:
    """``GET`` of the symbol's novelty key, when its index lists one."""
    return [("GET", keys.novelty(index.symbol))] if index.novelty else []


def read(data: SymbolData, index: SymbolIndex, replies: Sequence[object], settings: Settings,
         now: float) -> int:
    """The reply of ``commands(index)`` (the first of ``replies``) into ``data``; how many."""
    if not index.novelty:
        return 0
    data.novelty = parse_novelty(index.symbol, replies[0],  # type: ignore[arg-type]
                                 now, settings.novelty_freshness)
    return 1
