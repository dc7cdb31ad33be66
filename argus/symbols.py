"""Symbol normalization: the one place that knows the canonical form (``docs/contract/symbols.md``).

* Crypto pair: ``EXCHANGE:BASE-QUOTE``, upper case (``BINANCE:BTC-USDT``).
* Anything not recognised as crypto passes through upper-cased (``AAPL``, ``BRK.B``,
  ``NASDAQ:AAPL``).

Rules beyond the contract's table, chosen so that ``normalize`` is idempotent:

* A pair is only a pair when its base is a known crypto asset and its quote a known quote
  or crypto asset, and base and quote differ (``USDT`` alone stays ``USDT``).
* ``EXCHANGE:BASE`` (no quote) takes the default quote, like a bare base does.
* An ``equity`` entry of the universe (``argus:symbols``) overrides the crypto asset list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from argus.errors import InvalidSymbol
from argus.settings import Settings

MAX_LENGTH = 40
#: Inputs longer than this are normalized without being remembered: the memo's 32,768
#: entries then hold at most ~4 MB, whatever blanks callers pad their symbols with.
_MEMO_LENGTH = 2 * MAX_LENGTH
_ALLOWED = re.compile(r"[A-Za-z0-9.:/_\-]+")
_SEPARATORS = re.compile(r"[-/_]")


def is_crypto_pair(canonical: str) -> bool:
    """Whether a *canonical* symbol is a crypto pair (``EXCHANGE:BASE-QUOTE``).

    The one rule for a symbol's trading calendar: pairs trade around the clock, everything
    else (plain or exchange-prefixed tickers, ``BRK.B``) on an equity calendar.
    """
    _, colon, rest = canonical.partition(":")
    return bool(colon) and "-" in rest


@dataclass(frozen=True, slots=True)
class Universe:
    """What the writer published in ``argus:symbols``: extra crypto bases, equity overrides."""

    crypto_bases: frozenset[str] = frozenset()
    equities: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, entries: Mapping[str, str]) -> Universe:
        crypto: set[str] = set()
        equities: set[str] = set()
        for symbol, kind in entries.items():
            symbol = symbol.strip().upper()
            if kind.strip().lower() == "equity":
                equities.add(symbol)
            elif kind.strip().lower() == "crypto":
                pair = symbol.partition(":")[2] or symbol
                base = _SEPARATORS.split(pair, maxsplit=1)[0]
                if base:
                    crypto.add(base)
        return cls(frozenset(crypto), frozenset(equities))


@dataclass(frozen=True, slots=True)
class Normalizer:
    default_exchange: str = "BINANCE"
    default_quote: str = "USDT"
    quote_aliases: Mapping[str, str] = field(default_factory=lambda: {"USD": "USDT"})
    crypto_assets: frozenset[str] = frozenset()
    quotes: tuple[str, ...] = ()
    universe: Universe = Universe()
    _memo: Callable[[str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Normalization is a pure function of the input and this (immutable) normalizer, and
        # Apex sends the same spellings again and again: remember them, bounded. Refused
        # inputs raise and are not remembered.
        object.__setattr__(self, "_memo", lru_cache(maxsize=32_768)(self._normalize))

    @classmethod
    def from_settings(cls, settings: Settings, universe: Universe | None = None) -> Normalizer:
        return cls(
            default_exchange=settings.default_exchange,
            default_quote=settings.default_quote,
            quote_aliases=dict(settings.quote_aliases),
            crypto_assets=frozenset(settings.crypto_assets),
            # Longest suffix first, so BTCUSDT splits as BTC + USDT, never BTCUSD + T.
            quotes=tuple(sorted(set(settings.quotes), key=lambda q: (-len(q), q))),
            universe=universe or Universe(),
        )

    def with_universe(self, universe: Universe) -> Normalizer:
        """This normalizer with ``universe``; itself when the universe is unchanged, so
        the reload every ``ARGUS_UNIVERSE_REFRESH`` seconds keeps what it remembers."""
        if universe == self.universe:
            return self
        return Normalizer(self.default_exchange, self.default_quote, self.quote_aliases,
                          self.crypto_assets, self.quotes, universe)

    def is_crypto_base(self, token: str) -> bool:
        if token in self.universe.equities:
            return False
        return token in self.crypto_assets or token in self.universe.crypto_bases

    def _is_quote(self, token: str) -> bool:
        return token in self.quotes or token in self.quote_aliases or self.is_crypto_base(token)

    def validate(self, raw: str) -> str:
        text = raw.strip()
        if not text:
            raise InvalidSymbol(raw, "a symbol must not be empty")
        if len(text) > MAX_LENGTH:
            raise InvalidSymbol(raw, f"a symbol has at most {MAX_LENGTH} characters")
        if not _ALLOWED.fullmatch(text):
            raise InvalidSymbol(raw, "only letters, digits and . : / _ - are allowed")
        return text.upper()

    def normalize(self, raw: str) -> str:
        """Return the canonical symbol for ``raw`` or raise ``InvalidSymbol``."""
        if len(raw) > _MEMO_LENGTH:  # padded with blanks: valid, but not worth remembering
            return self._normalize(raw)
        return self._memo(raw)

    def _normalize(self, raw: str) -> str:
        text = self.validate(raw)
        if text in self.universe.equities:
            return text
        exchange, colon, rest = text.partition(":")
        if not colon:
            exchange, rest = self.default_exchange, text
        pair = self._split_pair(rest) if exchange else None
        if pair is None:
            return text
        base, quote = pair
        if exchange == self.default_exchange:
            quote = self.quote_aliases.get(quote, quote)
        if base == quote:
            return text
        canonical = f"{exchange}:{base}-{quote}"
        if len(canonical) > MAX_LENGTH:
            # Reject rather than emit a canonical form that would itself fail validation.
            raise InvalidSymbol(raw, f"its canonical form has more than {MAX_LENGTH} characters")
        return canonical

    def normalize_many(self, raws: Iterable[str]) -> list[str | InvalidSymbol]:
        out: list[str | InvalidSymbol] = []
        normalize = self._memo
        for raw in raws:
            try:
                out.append(normalize(raw) if len(raw) <= _MEMO_LENGTH else self._normalize(raw))
            except InvalidSymbol as exc:
                out.append(exc)
        return out

    def _split_pair(self, rest: str) -> tuple[str, str] | None:
        parts = _SEPARATORS.split(rest)
        if len(parts) == 2:
            base, quote = parts
            if self.is_crypto_base(base) and self._is_quote(quote):
                return base, quote
            return None
        if len(parts) != 1 or ":" in rest:
            return None
        if self.is_crypto_base(rest):
            return rest, self.default_quote
        for quote in self.quotes:
            if rest.endswith(quote) and self.is_crypto_base(rest[: -len(quote)]):
                return rest[: -len(quote)], quote
        return None
