"""The one settings object. Nothing else in Argus reads the environment.

Every value comes from an ``ARGUS_*`` variable (see the README's configuration table),
named after its field and read by the parser the field declares (``setting``); an
``ARGUS_*`` variable that no field reads is reported (a warning, or an error with
``ARGUS_STRICT_SETTINGS``). Tests build ``Settings.from_env({...})`` with an explicit mapping.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, overload
from urllib.parse import urlsplit

from argus.errors import ConfigurationError

#: The 50+ largest crypto assets by market capitalisation (late 2026), the default list of
#: bases that symbol normalization recognises as crypto. ``ARGUS_CRYPTO_ASSETS`` replaces it;
#: the writer's universe (``argus:symbols``) adds to it.
DEFAULT_CRYPTO_ASSETS: tuple[str, ...] = (
    "BTC", "ETH", "USDT", "BNB", "SOL", "XRP", "USDC", "DOGE", "ADA", "TRX",
    "TON", "AVAX", "SHIB", "DOT", "LINK", "BCH", "NEAR", "LTC", "MATIC", "POL",
    "UNI", "DAI", "ICP", "APT", "ETC", "XLM", "STX", "XMR", "OKB", "FIL",
    "HBAR", "ATOM", "ARB", "VET", "MNT", "CRO", "IMX", "OP", "RNDR", "INJ",
    "SUI", "GRT", "TAO", "AAVE", "MKR", "FET", "THETA", "ALGO", "SEI", "FTM",
    "RUNE", "LDO", "PEPE", "WIF", "BONK", "FLOKI", "KAS", "TIA", "JUP", "EGLD",
)  # fmt: skip

#: Quote currencies, longest first when a pair without separator is split.
DEFAULT_QUOTES: tuple[str, ...] = (
    "USDT", "USDC", "FDUSD", "TUSD", "BUSD", "DAI", "USD", "EUR", "GBP", "TRY",
    "BTC", "ETH", "BNB",
)  # fmt: skip

#: How old (seconds) a value may be before it reads as ``stale``: three bars of its
#: timeframe, and never less than three minutes, because the writer runs every minute.
DEFAULT_FRESHNESS: Mapping[str, float] = {
    "1m": 180.0,
    "5m": 900.0,
    "15m": 2_700.0,
    "1h": 10_800.0,
    "4h": 43_200.0,
    "1d": 259_200.0,
    "1w": 1_814_400.0,
    "1M": 7_776_000.0,
}

Discovery = Literal["index", "scan"]
T = TypeVar("T")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip().upper() for part in value.split(",") if part.strip())


def _pairs(value: str, upper: bool = True) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ConfigurationError(f"expected FROM=TO pairs, got {item!r}")
        src, dst = src.strip(), dst.strip()
        out[src.upper() if upper else src] = dst.upper() if upper else dst
    return out


def _list(value: str) -> tuple[str, ...]:
    """Comma-separated values, case kept (issuers, audiences, proxy addresses)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _origins(value: str) -> tuple[str, ...]:
    """Browser origins as browsers send them: lower-case ``scheme://host[:port]``."""
    return tuple(part.rstrip("/").lower() for part in _list(value))


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigurationError(f"expected a boolean, got {value!r}")


def _freshness(value: str) -> dict[str, float]:
    table = dict(DEFAULT_FRESHNESS)
    for token, seconds in _pairs(value, upper=False).items():  # 1m and 1M differ
        if token not in table:
            raise ConfigurationError(f"unknown timeframe {token!r} in ARGUS_FRESHNESS")
        table[token] = float(seconds)
    return table


@overload
def setting(parse: Callable[[str], Any], default: T) -> T: ...
@overload
def setting(parse: Callable[[str], Any], *, factory: Callable[[], T]) -> T: ...
def setting(parse: Callable[[str], Any], default: Any = MISSING, *,
            factory: Callable[[], Any] | None = None) -> Any:
    """A field of ``Settings`` read from ``ARGUS_<NAME>`` by ``parse``.

    A parse error (``ValueError`` or ``ConfigurationError``) is reported with the variable's
    name; ``factory`` replaces ``default`` for mutable values (dataclasses refuse them).
    Typed as its default, so mypy checks the default against the field's annotation.
    """
    metadata = {"parse": parse}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def env_name(field_name: str) -> str:
    return f"ARGUS_{field_name.upper()}"


#: ``ARGUS_*`` variables that are not settings but are read by something else, so an
#: unknown-variable report must not name them. Add one here with who reads it.
NOT_SETTINGS: frozenset[str] = frozenset({
    "ARGUS_VENV",  # scripts/venv.sh: where the README's commands keep their virtualenv
})


class UnknownSettingWarning(UserWarning):
    """An ``ARGUS_*`` variable that no setting reads (a typo, or a removed setting)."""


def _report_unknown(env: Mapping[str, str], *, strict: bool) -> None:
    known = [env_name(f.name) for f in fields(Settings)]
    unknown = sorted(name for name in env
                     if name.startswith("ARGUS_") and name not in known and name not in NOT_SETTINGS)
    if not unknown:
        return
    reports = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        reports.append(f"{name} (did you mean {close[0]}?)" if close else name)
    if strict:
        raise ConfigurationError(f"unknown setting {', '.join(reports)} (ARGUS_STRICT_SETTINGS is on)")
    for report in reports:
        # stacklevel 3: attributed to whoever called from_env (the CLI, asgi, a test).
        warnings.warn(f"{report} is not an Argus setting; it is ignored",
                      UnknownSettingWarning, stacklevel=3)


@dataclass(frozen=True, slots=True)
class Settings:
    # --- Redis -------------------------------------------------------------------------
    redis_url: str = setting(str, "redis://localhost:6379/0")
    redis_cluster: bool = setting(_bool, False)
    redis_connect_timeout: float = setting(float, 0.25)
    redis_timeout: float = setting(float, 0.5)
    redis_max_connections: int = setting(int, 64)
    discovery: Discovery = setting(str, "index")
    scan_max_symbols: int = setting(int, 25)
    scan_count: int = setting(int, 2_000)
    retry_after: int = setting(int, 5)
    # --- Symbols -----------------------------------------------------------------------
    default_exchange: str = setting(str.upper, "BINANCE")
    default_quote: str = setting(str.upper, "USDT")
    quote_aliases: Mapping[str, str] = setting(_pairs, factory=lambda: {"USD": "USDT"})
    crypto_assets: tuple[str, ...] = setting(_split, DEFAULT_CRYPTO_ASSETS)
    quotes: tuple[str, ...] = setting(_split, DEFAULT_QUOTES)
    universe_refresh: float = setting(float, 30.0)
    # --- Freshness ---------------------------------------------------------------------
    freshness: Mapping[str, float] = setting(_freshness, factory=lambda: dict(DEFAULT_FRESHNESS))
    novelty_freshness: float = setting(float, 900.0)
    # --- HTTP --------------------------------------------------------------------------
    host: str = setting(str, "127.0.0.1")
    port: int = setting(int, 8000)
    debug: bool = setting(_bool, False)
    #: Seconds a GraphQL or REST request may take before it answers 503 (``argus.http.deadline``).
    #: A Redis call fails within ~1.5 s (a round, its reconnect and its retry), but a request
    #: makes several (API key, persisted query, budget, two rounds per query level), and the
    #: largest internal documents take seconds of parsing on a busy machine.
    request_timeout: float = setting(float, 10.0)
    #: The server's young-generation collection threshold (Python's default: 700). An Apex
    #: answer allocates ~40,000 containers that reference counting frees; at 700 the
    #: collector walks them ~50 times per answer (README, Benchmarks). 0 disables collection.
    gc_threshold: int = setting(int, 100_000)
    #: Seconds between returns of freed heap pages to the OS (glibc ``malloc_trim``); 0: never.
    heap_trim_interval: float = setting(float, 30.0)
    #: Seconds a connection may take to send a request's headers, from when it opens or
    #: its next request begins; then it is closed (idle or trickling sockets, ``server``).
    header_timeout: float = setting(float, 10.0)
    #: Seconds a kept-alive connection may sit idle between requests (uvicorn's own timer).
    keep_alive_timeout: int = setting(int, 5)
    #: Requests in flight per process before new ones are shed with 503 (0: no cap).
    max_concurrent_requests: int = setting(int, 512)
    #: WebSocket / SSE streams open per process, a cap of their own (0: no cap).
    max_streams: int = setting(int, 1_000)
    #: Seconds ``argus serve`` lets in-flight requests finish after SIGTERM, then cancels them.
    shutdown_grace: int = setting(int, 10)
    #: Largest request body read (bytes); past it the request is refused with 413 while
    #: reading, and a ``Content-Length`` announcing more is refused before reading.
    max_body_bytes: int = setting(int, 1_048_576)
    #: Estimated bytes each in-process cache of what callers send (parsed documents,
    #: validation results, compiled shapes, cache hints, persisted queries) may hold.
    cache_bytes: int = setting(int, 8 * 1_048_576)
    # --- Subscriptions (``argus.data.events``, ``argus.http.subscriptions``) -------------
    #: Subscriptions open per process (WebSocket operations and SSE streams together);
    #: past it a new one is refused with SERVICE_UNAVAILABLE.
    max_subscriptions: int = setting(int, 5_000)
    #: Subscriptions one WebSocket connection may hold at once.
    max_subscriptions_per_connection: int = setting(int, 20)
    #: Largest WebSocket message accepted (bytes); a larger one closes the socket with 1009.
    max_ws_message_bytes: int = setting(int, 64 * 1024)
    #: Seconds a WebSocket may take to send ``connection_init`` before it is closed with 4408.
    ws_init_timeout: float = setting(float, 10.0)
    #: Accept permessage-deflate when a WebSocket client offers it. Off by default: events
    #: are small (100 B to 2 KB) and deflating each costs both ends CPU on the path Apex
    #: times (``bench.sub_latency``, README).
    ws_compression: bool = setting(_bool, False)
    #: Events queued for one subscriber that has not taken them; past it the subscriber is
    #: dropped with a SLOW_SUBSCRIBER error naming the id to resume after.
    subscription_queue: int = setting(int, 1_000)
    #: Stream entries a resume (``after``) may read back; further back is BAD_USER_INPUT.
    subscription_replay: int = setting(int, 10_000)
    #: Seconds an SSE stream may stay silent before it sends a keep-alive comment (so that
    #: proxies keep it open and a client that went away is noticed).
    sse_keepalive: float = setting(float, 15.0)
    # --- Tiers -------------------------------------------------------------------------
    #: The tier of callers without credentials; tests and trusted deployments may set it
    #: to ``internal`` (no limits, no budget bookkeeping).
    anonymous_tier: str = setting(str, "anonymous")
    #: A TOML file overriding any value of the tier table (``docs/tiers.md``).
    tiers_file: Path | None = setting(Path, None)
    #: Refuse credential-less callers with 401 instead of serving them as anonymous.
    require_auth: bool = setting(_bool, False)
    #: JWKS of the token issuer (``https://`` or ``file://``); unset refuses every bearer token.
    jwks_url: str | None = setting(str, None)
    jwt_issuer: str | None = setting(str, None)
    jwt_audience: tuple[str, ...] = setting(_list, ())
    #: Accepted ``azp`` values (Clerk's authorized parties); empty accepts any.
    jwt_authorized_parties: tuple[str, ...] = setting(_list, ())
    #: Dotted path of the tier claim (``metadata.tier`` for Clerk public metadata).
    tier_claim: str = setting(str, "tier")
    jwt_leeway: float = setting(float, 30.0)
    #: Seconds a fetched JWKS is trusted; an unknown ``kid`` refreshes it sooner, at most
    #: once per ``jwks_refresh_cooldown`` seconds (PyJWKClient's default 30 s would block it).
    jwks_lifespan: float = setting(float, 300.0)
    jwks_refresh_cooldown: float = setting(float, 1.0)
    jwks_timeout: float = setting(float, 5.0)
    #: Seconds an API key lookup (found or not) is kept in memory; revocation lag.
    api_key_cache: float = setting(float, 5.0)
    #: Addresses or CIDR networks of proxies whose ``X-Forwarded-For`` is believed (by
    #: uvicorn too); empty believes nobody's.
    trusted_proxies: tuple[str, ...] = setting(_list, ())
    #: Verified JWTs kept in memory (by digest, until ``exp``, at most ``jwt_cache_ttl``
    #: seconds): entries and bytes; size 0 verifies every request.
    jwt_cache_size: int = setting(int, 10_000)
    jwt_cache_bytes: int = setting(int, 4 * 1024 * 1024)
    jwt_cache_ttl: float = setting(float, 300.0)
    #: Origins (``https://dash.example.com``) whose browsers may call ``/graphql`` and the
    #: REST route (CORS); empty allows the same origin only, ``*`` any origin.
    cors_origins: tuple[str, ...] = setting(_origins, ())
    #: Bytes of request line and headers accepted; larger answers 431.
    max_header_bytes: int = setting(int, 16 * 1024)
    #: Seconds an Automatic Persisted Query lives in Redis (refreshed on registration).
    apq_ttl: int = setting(int, 7 * 86_400)
    #: Budget points an introspection request is charged (``docs/contract/clarifications.md`` §15).
    introspection_cost: int = setting(int, 10)
    #: Largest query text (UTF-8 bytes) that may be registered as a persisted query.
    apq_max_bytes: int = setting(int, 64 * 1024)
    # --- Writer ------------------------------------------------------------------------
    ttl: int = setting(int, 86_400)
    data_dir: Path = setting(Path, Path(".argus"))
    clickhouse_url: str | None = setting(str, None)
    correlation_top_k: int = setting(int, 20)
    signal_window: int = setting(int, 500)
    write_batch: int = setting(int, 250)
    write_timeout: float = setting(float, 30.0)
    # --- Start-up ----------------------------------------------------------------------
    #: Refuse to start on an unknown ``ARGUS_*`` variable instead of warning about it.
    strict_settings: bool = setting(_bool, False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = env_name(f.name)
            if name in env:
                try:
                    values[f.name] = f.metadata["parse"](env[name])
                except (ValueError, ConfigurationError) as exc:
                    raise ConfigurationError(f"{name}: {exc}") from exc
        values.update(overrides)
        settings = cls(**values)
        # Before validating: a misspelt name is often why a required value seems missing.
        _report_unknown(env, strict=settings.strict_settings)
        settings.validate()
        return settings

    def with_(self, **changes: Any) -> Settings:
        updated = replace(self, **changes)
        updated.validate()
        return updated

    def validate(self) -> None:
        if self.discovery not in ("index", "scan"):
            raise ConfigurationError(f"ARGUS_DISCOVERY must be index or scan, not {self.discovery!r}")
        for name in ("redis_connect_timeout", "redis_timeout", "request_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"ARGUS_{name.upper()} must be positive")
        if self.ttl <= 0:
            raise ConfigurationError("ARGUS_TTL must be a positive number of seconds")
        if self.introspection_cost < 0:
            raise ConfigurationError("ARGUS_INTROSPECTION_COST must be 0 or positive")
        if self.heap_trim_interval < 0:
            raise ConfigurationError("ARGUS_HEAP_TRIM_INTERVAL must be at least 0")
        if self.gc_threshold < 0:
            raise ConfigurationError("ARGUS_GC_THRESHOLD must be 0 (off) or positive")
        if self.header_timeout <= 0 or self.keep_alive_timeout <= 0:
            raise ConfigurationError("ARGUS_HEADER_TIMEOUT and ARGUS_KEEP_ALIVE_TIMEOUT must be positive")
        if self.max_concurrent_requests < 0 or self.max_streams < 0 or self.shutdown_grace < 0:
            raise ConfigurationError("ARGUS_MAX_CONCURRENT_REQUESTS, ARGUS_MAX_STREAMS and "
                                     "ARGUS_SHUTDOWN_GRACE must be 0 or positive")
        for name in ("max_body_bytes", "cache_bytes", "apq_max_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"ARGUS_{name.upper()} must be a positive number of bytes")
        if self.jwks_url is not None and not self.jwt_issuer:
            raise ConfigurationError("ARGUS_JWT_ISSUER is required with ARGUS_JWKS_URL")
        if self.jwks_url is not None and not self.jwks_url.startswith(("https://", "file://")):
            raise ConfigurationError("ARGUS_JWKS_URL must be an https:// or file:// URL")
        if self.default_quote not in self.quotes:
            raise ConfigurationError("ARGUS_DEFAULT_QUOTE must be one of ARGUS_QUOTES")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ConfigurationError(
                    f"ARGUS_TRUSTED_PROXIES: {proxy!r} is not an address or CIDR network") from exc
        for origin in self.cors_origins:
            if not is_origin(origin):
                raise ConfigurationError(
                    f"ARGUS_CORS_ORIGINS: {origin!r} is not an origin like https://app.example.com")
        for name in ("jwt_cache_size", "jwt_cache_bytes", "jwt_cache_ttl"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"ARGUS_{name.upper()} must be 0 (off) or positive")
        for name in ("max_subscriptions", "max_subscriptions_per_connection",
                     "max_ws_message_bytes", "subscription_queue", "subscription_replay"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"ARGUS_{name.upper()} must be positive")
        for name in ("ws_init_timeout", "sse_keepalive"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"ARGUS_{name.upper()} must be positive")
        if self.max_header_bytes < 1_024:
            raise ConfigurationError("ARGUS_MAX_HEADER_BYTES must be at least 1024")


def is_origin(origin: str) -> bool:
    """``*``, or ``http(s)://host[:port]`` with nothing after it (what a browser's Origin holds)."""
    if origin == "*":
        return True
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.path
            and not parts.query and not parts.fragment and not parts.username)
