"""The Redis keyspace contract (``docs/contract/redis-keys.md``): the only module that formats a key.

Both the API (reader) and the writer import it. ``SYM`` is always a canonical symbol
(``argus.symbols``); the braces are literal and form a Redis Cluster hash tag, so every key
of one symbol lives in one slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

#: Timeframe tokens in their contract order, finest first (``1M`` is one month).
TIMEFRAMES: Final[tuple[str, ...]] = ("1m", "5m", "15m", "1h", "4h", "1d", "1w", "1M")

#: Bar length of each timeframe in seconds (a month counts as 30 days).
TIMEFRAME_SECONDS: Final[dict[str, int]] = {
    "1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "4h": 14_400,
    "1d": 86_400, "1w": 604_800, "1M": 2_592_000,
}  # fmt: skip

EVENTS: Final = "argus:events"
UNIVERSE: Final = "argus:symbols"
EVENTS_MAXLEN: Final = 100_000

Namespace = Literal["regime", "novelty", "corr"]
NAMESPACES: Final[tuple[Namespace, ...]] = ("regime", "novelty", "corr")

#: SCAN patterns of every contract namespace (``docs/contract/clarifications.md`` §10), for TTL tools.
CONTRACT_PATTERNS: Final[tuple[str, ...]] = ("regime:{*}:*", "novelty:{*}", "corr:{*}:*", "idx:{*}")
CONTRACT_SINGLETONS: Final[tuple[str, ...]] = (EVENTS, UNIVERSE)


class Timeframe(Enum):
    """GraphQL enum names mapped to the contract's key tokens."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"
    W1 = "1w"
    MN1 = "1M"

    @property
    def token(self) -> str:
        return self.value

    @classmethod
    def from_token(cls, token: str) -> Timeframe:
        return _BY_TOKEN[token]


_BY_TOKEN: Final = {tf.value: tf for tf in Timeframe}
TIMEFRAME_ORDER: Final[dict[str, int]] = {token: i for i, token in enumerate(TIMEFRAMES)}


def regime(symbol: str, timeframe: str) -> str:
    return f"regime:{{{symbol}}}:{timeframe}"


def novelty(symbol: str) -> str:
    return f"novelty:{{{symbol}}}"


def corr(symbol: str, partner: str) -> str:
    return f"corr:{{{symbol}}}:{partner}"


def index(symbol: str) -> str:
    return f"idx:{{{symbol}}}"


def regimes(symbol: str) -> list[str]:
    return [regime(symbol, tf) for tf in TIMEFRAMES]


@dataclass(frozen=True, slots=True)
class Key:
    """A parsed data key: its namespace, symbol, and timeframe (regime) or partner (corr)."""

    namespace: Namespace
    symbol: str
    detail: str = ""

    def __str__(self) -> str:
        if self.namespace == "regime":
            return regime(self.symbol, self.detail)
        if self.namespace == "novelty":
            return novelty(self.symbol)
        return corr(self.symbol, self.detail)


def text(value: object) -> str:
    """A key name or field from a Redis reply as text: redis-py answers bytes (no
    ``decode_responses``), the store's fast path and Lua may answer ``str`` or numbers."""
    return value.decode() if isinstance(value, bytes) else str(value)


def parse(key: str | bytes) -> Key | None:
    """Parse a data key (regime, novelty, corr); ``None`` when it is not one."""
    namespace, sep, rest = text(key).partition(":{")
    if not sep:
        return None
    symbol, sep, tail = rest.partition("}")
    if not sep or not symbol:
        return None
    if namespace == "novelty":
        return Key("novelty", symbol) if tail == "" else None
    if not tail.startswith(":") or len(tail) < 2:
        return None
    detail = tail[1:]
    if namespace == "regime":
        return Key("regime", symbol, detail) if detail in TIMEFRAME_ORDER else None
    if namespace == "corr":
        return Key("corr", symbol, detail)
    return None


def glob_escape(text: str) -> str:
    """Escape ``*?[]\\`` so ``text`` matches only itself inside a SCAN MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def corr_pattern(symbol: str) -> str:
    """SCAN MATCH pattern of one symbol's correlation keys, the symbol escaped."""
    return f"corr:{{{glob_escape(symbol)}}}:*"


#: Pattern of every correlation key, used by scan discovery of several symbols at once.
ALL_CORR_PATTERN: Final = "corr:{*}:*"


# --- Service keys (issue 4): outside the contract's data namespaces ----------------------
#: SCAN pattern of every stored API key.
API_KEY_PATTERN: Final = "argus:apikey:*"


def api_key(digest: str) -> str:
    """An API key's record, by the SHA-256 hex digest of the key (never the key itself)."""
    return f"argus:apikey:{digest}"


def persisted_query(sha256: str) -> str:
    """An Automatic Persisted Query's text, by its SHA-256 hex hash."""
    return f"argus:apq:{sha256}"


#: A budget identity as ``argus.policy.auth`` builds it from validated values only: ``ip:`` an
#: address, a /64 or ``unknown``; ``key:`` an API key's hex id; ``sub:`` a plain subject or
#: ``#`` and its digest.
BUDGET_IDENTITY: Final = re.compile(r"ip:[0-9A-Fa-f.:/]{2,43}|ip:unknown|key:[0-9a-f]{1,64}"
                                    r"|sub:[A-Za-z0-9_.@|+=-]{1,128}|sub:#[0-9a-f]{32}")


def budget(caller: str) -> str:
    """A caller's per-minute cost budget (GCRA state). Refuses (``ValueError``) any identity
    not built from validated values: a key name must never carry a caller's raw text."""
    if BUDGET_IDENTITY.fullmatch(caller) is None:
        raise ValueError(f"not a budget identity: {caller[:80]!r}")
    return f"argus:budget:{caller}"
