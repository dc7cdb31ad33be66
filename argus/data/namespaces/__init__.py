"""One module per namespace of the keyspace: ``regime``, ``novelty``, ``correlations``.

Each declares, once, what the rest of Argus derives from:

* its key names (through ``argus.keys``) and ``commands(index)``: the fetch commands of one
  symbol's keys, in the order ``read`` expects their replies;
* ``read(data, index, replies, settings, now)``: those replies parsed into the request's
  ``SymbolData`` (its parser and value type live beside it);
* ``FIELDS``: the values a stored item carries, each a ``Field``. The compiled path's leaves
  (``graphql/compiled.py``), the Strawberry type's fields (``graphql/types.py``), the REST
  body (``http/rest.py``) and, for regime hashes, the writer's Lua arguments
  (``writer/redis_writer.py``) are built from them.

What is not a plain field stays with each consumer, the same for every field list: a
regime's timeframe (from its key) and label (the required ``regime`` field), the time a
value was computed (``computed_at``, with the age and staleness derived from it), a
correlation's partner (from its key).

``NAMESPACES`` lists the modules in namespace order (``argus.keys.NAMESPACES``): the order
of the fetch commands and of their replies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from argus.keys import Namespace

if TYPE_CHECKING:
    from argus.data.loaders import SymbolData
    from argus.data.store import Command, SymbolIndex
    from argus.settings import Settings

#: How a stored value is read: a finite float, text, or an integral number.
Kind = Literal["number", "text", "integer"]


def camel(name: str) -> str:
    """``variance_ratio`` → ``varianceRatio``: the GraphQL name Strawberry gives an attribute."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True, slots=True)
class Field:
    """One value of a namespace, declared once.

    ``name`` is the hash field or JSON key as stored, and the attribute of the value type;
    the GraphQL name is derived from it (``camel``). ``contract`` fields are the
    ``docs/contract/api.md`` ones: REST always lists them (``null`` when missing). The others
    are added fields (``docs/contract/clarifications.md`` §17): REST lists them only when the
    stored value has them, so a v1 value's body does not change. ``required`` fields are
    non-null in GraphQL (a value without one is absent, its parser decides) and the writer
    refuses to write without them.
    """

    name: str
    kind: Kind = "number"
    description: str | None = None
    contract: bool = True
    required: bool = False
    #: ``name`` as bytes: what a flat hash reply holds.
    key: bytes = field(init=False, repr=False, compare=False)
    graphql: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The name becomes an attribute, a variable of the compiled path's generated code
        # (``x_<name>``) and a GraphQL name: an identifier, in snake case.
        if not self.name.isidentifier() or not self.name.islower() or self.name.startswith("_"):
            raise ValueError(f"a field name is a lower-case identifier, not {self.name!r}")
        object.__setattr__(self, "key", self.name.encode())
        object.__setattr__(self, "graphql", camel(self.name))


Fields = tuple[Field, ...]


class NamespaceModule(Protocol):
    """What ``regime``, ``novelty`` and ``correlations`` each define (the loaders loop over them)."""

    NAME: Namespace
    FIELDS: Fields

    def commands(self, index: SymbolIndex) -> list[Command]: ...

    def read(self, data: SymbolData, index: SymbolIndex, replies: Sequence[object],
             settings: Settings, now: float) -> int: ...


# The modules import ``Field`` from here: they come after it.
from argus.data.namespaces import correlations, novelty, regime  # noqa: E402

NAMESPACES: tuple[NamespaceModule, ...] = (regime, novelty, correlations)

__all__ = ["NAMESPACES", "Field", "Fields", "Kind", "NamespaceModule", "camel", "correlations",
           "novelty", "regime"]
