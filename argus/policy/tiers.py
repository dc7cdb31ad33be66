"""The tier table (``docs/contract/tiers.md``): per-request limits, budgets and cache caps per tier.

Defaults are the contract's; a TOML file (``ARGUS_TIERS_FILE``) overrides any value::

    [pro]
    max_depth = 9
    budget = 60000

    [internal]
    max_cost = "unlimited"

    [anonymous]
    introspection = false   # refuse __schema / __type (400 QUERY_TOO_COMPLEX)
    suggestions = true      # "Did you mean ...?" in error messages (hidden by default)
    subscriptions = false   # refuse regimeChanges (WebSocket connection_init: 4403)

``"unlimited"`` (or ``-1``) lifts ``max_cost`` and ``budget``; a tier without a budget does
no budget bookkeeping at all (no Redis round trip).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from argus.errors import ConfigurationError

UNLIMITED = "unlimited"
#: Budgets are cost points per this many seconds.
BUDGET_PERIOD = 60


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    max_depth: int
    max_symbols: int
    max_cost: int | None
    budget: int | None
    s_maxage: int
    max_aliases: int
    max_tokens: int
    #: Whether ``__schema`` / ``__type`` may be queried (``docs/contract/clarifications.md`` §15).
    introspection: bool = True
    #: Whether error messages may suggest names ("Did you mean ...?"): they list the
    #: schema's fields and values to a caller who may not introspect it.
    suggestions: bool = True
    #: Whether the tier may subscribe (``regimeChanges``); refused, a WebSocket's
    #: ``connection_init`` closes with 4403 and a subscription is 400 ``QUERY_TOO_COMPLEX``.
    subscriptions: bool = True


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("anonymous", 4, 5, 200, 600, 15, 10, 1_000, suggestions=False),
    Tier("free", 5, 10, 500, 1_500, 30, 15, 2_000),
    Tier("pro", 8, 100, 5_000, 30_000, 60, 30, 5_000),
    Tier("enterprise", 10, 1_000, 50_000, 300_000, 120, 50, 10_000),
    Tier("internal", 12, 20_000, None, None, 0, 100, 50_000),
)

_NULLABLE = {"max_cost", "budget"}
_BOOLEAN = {"introspection", "suggestions", "subscriptions"}


class TierTable(Mapping[str, Tier]):
    def __init__(self, tiers: Mapping[str, Tier]) -> None:
        self._tiers = dict(tiers)

    def __getitem__(self, name: str) -> Tier:
        return self._tiers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tiers)

    def __len__(self) -> int:
        return len(self._tiers)

    @classmethod
    def default(cls) -> TierTable:
        return cls({tier.name: tier for tier in DEFAULT_TIERS})

    @classmethod
    def load(cls, path: Path | None) -> TierTable:
        """The defaults, overridden by the TOML file at ``path`` when given."""
        table = cls.default()
        if path is None:
            return table
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"ARGUS_TIERS_FILE {path}: {exc}") from exc
        return table.overridden(raw)

    def overridden(self, raw: Mapping[str, Any]) -> TierTable:
        tiers = dict(self._tiers)
        names = {f.name for f in fields(Tier)} - {"name"}
        for tier_name, values in raw.items():
            if tier_name not in tiers:
                raise ConfigurationError(f"unknown tier {tier_name!r} in the tiers file")
            if not isinstance(values, Mapping):
                raise ConfigurationError(f"tier {tier_name!r} must be a table")
            changes: dict[str, int | bool | None] = {}
            for key, value in values.items():
                if key not in names:
                    raise ConfigurationError(f"unknown setting {key!r} for tier {tier_name!r}")
                changes[key] = _limit(tier_name, key, value)
            tiers[tier_name] = replace(tiers[tier_name], **changes)  # type: ignore[arg-type]
        table = TierTable(tiers)
        table.validate()
        return table

    def validate(self) -> None:
        for tier in self._tiers.values():
            if tier.max_cost is not None and tier.budget is not None and tier.max_cost > tier.budget:
                raise ConfigurationError(
                    f"tier {tier.name!r}: max_cost {tier.max_cost} exceeds its budget "
                    f"{tier.budget}, so its largest requests could never run")


def _limit(tier: str, key: str, value: Any) -> int | bool | None:
    if key in _BOOLEAN:
        if not isinstance(value, bool):
            raise ConfigurationError(f"tier {tier!r}: {key} must be true or false")
        return value
    if key in _NULLABLE and (value == UNLIMITED or value == -1):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"tier {tier!r}: {key} must be a non-negative integer")
    return value
