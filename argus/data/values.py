"""Stored values, parsed: the readers every namespace shares.

Redis holds strings written by several writers, so parsing is lenient in one direction
only: a missing or non-numeric optional field reads as ``None``; a value without its
required field (``regime`` of a hash, ``score`` of novelty, ``coefficient`` of a
correlation) reads as absent and is logged. Each namespace's own parser and value type
live in ``argus.data.namespaces``; this module holds what they share: ``number``,
``integer``, the hash-field readers and ``Freshness``.

The hash-field readers are written once, as source templates (``NUMBER_FIELD``,
``TEXT_FIELD``): ``number_field`` and ``text_field`` are defined from them here, and
``argus.graphql.compiled`` inlines the same text into its generated regime code, so the
two paths cannot parse a field differently.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The namespaces' parsers log here (``argus.data.namespaces``).
log = logging.getLogger("argus.values")


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


#: ``{x} = number_field(flat, {name})`` as statements, ``{x}`` a variable and ``{name}`` an
#: expression giving the field's name (bytes). The common case (a field at an even position
#: holding a finite number) takes no call; a hit at an odd position is a value spelling the
#: name, decided by ``field_of``. The code reads ``flat``, ``number``, ``field_of``, ``float``
#: and ``ValueError`` from its namespace.
NUMBER_FIELD = """\
try:
    i = flat.index({name})
except ValueError:
    {x} = None
else:
    if i & 1:
        {x} = number(field_of(flat, {name}))
    else:
        try:
            {x} = float(flat[i + 1])
        except ValueError:
            {x} = None
        else:
            if {x} - {x}:  # inf - inf and nan are nan
                {x} = None
"""

#: ``{x} = text_field(flat, {name})`` as statements, under the same rules as ``NUMBER_FIELD``.
TEXT_FIELD = """\
try:
    i = flat.index({name})
except ValueError:
    {x} = None
else:
    {x} = field_of(flat, {name}) if i & 1 else flat[i + 1]
    if {x} is not None:
        {x} = {x}.decode("utf-8", "replace")
"""


def inline(template: str, x: str, name: str, pad: str = "") -> str:
    """``template`` (``NUMBER_FIELD``, ``TEXT_FIELD``) reading field ``name`` (an expression)
    into variable ``x``, each line indented by ``pad``."""
    code = template.format(x=x, name=name)
    return "".join(pad + line for line in code.splitlines(keepends=True))


def _reader(template: str, name: str, doc: str) -> Callable[[Flat, bytes], Any]:
    source = f"def {name}(flat, name):\n{inline(template, 'value', 'name', '    ')}    return value\n"
    namespace: dict[str, Any] = {"number": number, "field_of": field_of}
    exec(source, namespace)
    reader: Callable[[Flat, bytes], Any] = namespace[name]
    reader.__doc__ = doc
    reader.__module__ = __name__
    return reader


number_field: Callable[[Flat, bytes], float | None] = _reader(
    NUMBER_FIELD, "number_field",
    """``number(field_of(flat, name))``, with the common case inline (``NUMBER_FIELD``): Apex
    reads 8,000 confidences per answer.""")

text_field: Callable[[Flat, bytes], str | None] = _reader(
    TEXT_FIELD, "text_field", """``field_of(flat, name)`` decoded (``TEXT_FIELD``).""")


def integer_field(flat: Flat, name: bytes) -> int | None:
    """``integer(field_of(flat, name))``: no hash field is an integer today, so no template."""
    return integer(field_of(flat, name))
