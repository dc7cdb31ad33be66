"""Who is calling: a verified JWT, an API key, or an anonymous client address.

* ``Authorization: Bearer <JWT>``: verified against the JWKS of ``ARGUS_JWKS_URL`` with
  RS256, ES256 or EdDSA only (the key's own algorithm must match the header's), issuer,
  optional audience and authorized parties (``azp``), ``exp``/``nbf`` with a leeway. The
  tier is the claim at ``ARGUS_TIER_CLAIM`` (a dotted path); no claim means ``free``.
* ``X-API-Key``: the key's configured tier (``argus.policy.api_keys``).
* Nothing: ``ARGUS_ANONYMOUS_TIER``, or 401 when ``ARGUS_REQUIRE_AUTH`` is set.

Any credential that fails is 401 ``UNAUTHENTICATED``, never a downgrade to anonymous.
PyJWT errors are translated here. The caller's identity keys its budget, and is built only
from values we validated, never from a caller's raw text (it becomes a Redis key name):

* ``sub:<sub>`` for a verified token (``sub:#<digest>`` when the subject holds anything but
  ``[A-Za-z0-9_.@|+=-]`` or is long);
* ``key:<id>``, the API key's public id (hex);
* ``ip:<address>``, the client address as ``ipaddress`` parsed it (an IPv6 client by its
  /64, one subscriber's allocation), ``X-Forwarded-For`` believed only from
  ``ARGUS_TRUSTED_PROXIES``; ``ip:unknown`` when the peer is not an address.

A verified token is remembered (``VerifiedTokens``) by the SHA-256 of its text until its
``exp``: verifying a signature costs hundreds of times a dict lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from urllib.request import url2pathname

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet
from starlette.requests import HTTPConnection

from argus.errors import ConfigurationError, ServiceUnavailable, Unauthenticated
from argus.policy.api_keys import ApiKeys
from argus.policy.tiers import Tier, TierTable
from argus.settings import Settings

#: Asymmetric algorithms only: an HMAC "signed" with the public key must never verify.
ALGORITHMS: frozenset[str] = frozenset({"RS256", "ES256", "EdDSA"})
#: The tier of a valid token that carries no tier claim (``docs/contract/tiers.md``).
TOKEN_DEFAULT_TIER = "free"

Kind = Literal["jwt", "api_key", "anonymous"]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Subjects kept verbatim in a budget identity; any other is replaced by its digest.
SAFE_SUBJECT = re.compile(r"[A-Za-z0-9_.@|+=-]{1,128}")
#: No address form (``[v6]:port`` included) is longer; longer text is not parsed or cached.
MAX_ADDRESS_TEXT = 64
UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True, slots=True)
class Caller:
    tier: Tier
    identity: str
    kind: Kind


class Jwks:
    """The issuer's signing keys by ``kid``, fetched off the event loop and cached.

    The set is trusted for ``jwks_lifespan``; an unknown ``kid`` (key rotation) refetches it
    once, at most once per ``jwks_refresh_cooldown``, so tokens with random ``kid``s cannot
    make us hammer the issuer (PyJWKClient's own 30 s cooldown would block rotation, and
    it refuses ``file://``, which tests and air-gapped deployments use). A failed refresh
    keeps the keys we have.
    """

    def __init__(self, settings: Settings) -> None:
        assert settings.jwks_url is not None
        self.settings = settings
        url = settings.jwks_url
        self._fetch: Callable[[], Any]
        if url.startswith("file://"):
            path = Path(url2pathname(urlparse(url).path))
            self._fetch = lambda: json.loads(path.read_text(encoding="utf-8"))
        else:
            self._fetch = PyJWKClient(url, cache_jwk_set=False,
                                      timeout=settings.jwks_timeout).fetch_data
        self._keys: dict[str, PyJWK] = {}
        self._prints: dict[Any, str] = {}
        self._fetched_at = -math.inf
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK:
        age = time.monotonic() - self._fetched_at
        if age >= self.settings.jwks_lifespan or (
                kid not in self._keys and age >= self.settings.jwks_refresh_cooldown):
            await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            raise Unauthenticated("The token's signing key is unknown.")
        return found

    async def _refresh(self) -> None:
        async with self._lock:
            try:
                data = await asyncio.to_thread(self._fetch)
                keyset = PyJWKSet.from_dict(data)
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                if not self._keys:
                    raise ServiceUnavailable(
                        "The token issuer's keys cannot be fetched. Retry shortly.",
                        retry_after=self.settings.retry_after) from exc
                # Keep what we have; try again after one cooldown.
                self._fetched_at = (time.monotonic() - self.settings.jwks_lifespan
                                    + max(self.settings.jwks_refresh_cooldown, 1.0))
                return
            # An unchanged key keeps its object, so remembered tokens signed by it stay
            # valid across refreshes (``VerifiedTokens`` compares keys by identity).
            prints = {jwk.get("kid"): json.dumps(jwk, sort_keys=True)
                      for jwk in data.get("keys", ()) if isinstance(jwk, dict)}
            keys: dict[str, PyJWK] = {}
            for k in keyset.keys:
                if not k.key_id:
                    continue
                old = self._keys.get(k.key_id)
                same = old is not None and prints.get(k.key_id) == self._prints.get(k.key_id)
                keys[k.key_id] = old if same and old is not None else k
            self._keys, self._prints = keys, prints
            self._fetched_at = time.monotonic()


class _Remembered:
    __slots__ = ("caller", "expires", "key", "kid", "size")

    def __init__(self, caller: Caller, kid: str, key: PyJWK, expires: float, size: int) -> None:
        self.caller = caller
        self.kid = kid
        self.key = key
        self.expires = expires
        self.size = size


class VerifiedTokens:
    """Callers of verified tokens by the SHA-256 of the token text, each until the token's
    ``exp`` and at most ``ttl`` seconds, bounded by entries and by bytes (least recently
    used out first). A hit still asks the JWKS for the token's ``kid``: when the set no
    longer holds that key (rotation, revocation) the entry is dropped and the token refused.

    Hand-written (an ``OrderedDict``): cachetools' caches bound one size measure and we
    need both, with an expiry per entry.
    """

    #: Bytes an entry holds besides its identity and kid text: the digest, the slots
    #: object, the dict slot and the ``Caller``.
    OVERHEAD = 320

    def __init__(self, size: int, max_bytes: int, ttl: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.clock = clock
        self.bytes = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[bytes, _Remembered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, digest: bytes) -> _Remembered | None:
        entry = self._entries.get(digest)
        if entry is None:
            self.misses += 1
            return None
        if self.clock() >= entry.expires:
            self.drop(digest)
            self.misses += 1
            return None
        self._entries.move_to_end(digest)
        self.hits += 1
        return entry

    def put(self, digest: bytes, caller: Caller, kid: str, key: PyJWK, exp: float) -> None:
        expires = min(exp, self.clock() + self.ttl)
        size = self.OVERHEAD + len(caller.identity) + len(kid)
        if self.size <= 0 or expires <= self.clock() or size > self.max_bytes:
            return
        self.drop(digest)
        self._entries[digest] = _Remembered(caller, kid, key, expires, size)
        self.bytes += size
        while len(self._entries) > self.size or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size

    def drop(self, digest: bytes) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None:
            self.bytes -= entry.size


class Authenticator:
    def __init__(self, settings: Settings, tiers: TierTable, api_keys: ApiKeys) -> None:
        if settings.anonymous_tier not in tiers:
            raise ConfigurationError(f"ARGUS_ANONYMOUS_TIER names no tier: {settings.anonymous_tier!r}")
        self.settings = settings
        self.tiers = tiers
        self.api_keys = api_keys
        self.jwks = Jwks(settings) if settings.jwks_url else None
        self.tokens = VerifiedTokens(settings.jwt_cache_size, settings.jwt_cache_bytes,
                                     settings.jwt_cache_ttl)
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        # Parsing an address costs more than the rest of an anonymous request's auth; the
        # answer depends only on the peer's text (short: MAX_ADDRESS_TEXT) and the proxies.
        self._peer = lru_cache(maxsize=4096)(self._peer_of)
        # An anonymous caller is a function of its (canonical) address: one Caller each.
        self._anonymous = lru_cache(maxsize=4096)(self._anonymous_caller)

    async def authenticate(self, conn: HTTPConnection) -> Caller:
        authorization, api_key = credentials(conn)
        if authorization is not None and api_key is not None:
            raise Unauthenticated("Send a bearer token or an API key, not both.")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
            return await self._token(token.strip())
        if api_key is not None:
            return await self._api_key(api_key.strip())
        if self.settings.require_auth:
            raise Unauthenticated("Authentication required: send a bearer token or an X-API-Key.")
        return self._anonymous(self.client_address(conn))

    def _anonymous_caller(self, address: str) -> Caller:
        return Caller(self.tiers[self.settings.anonymous_tier], f"ip:{budget_address(address)}",
                      "anonymous")

    async def _api_key(self, key: str) -> Caller:
        found = await self.api_keys.lookup(key) if key else None
        if found is None:
            raise Unauthenticated("The API key is not valid.")
        if found.tier not in self.tiers:
            raise Unauthenticated("The API key names an unknown tier.")
        return Caller(self.tiers[found.tier], f"key:{found.id}", "api_key")

    async def _token(self, token: str) -> Caller:
        if self.jwks is None:
            raise Unauthenticated("Bearer tokens are not accepted: no JWKS is configured.")
        digest = self.tokens.digest(token)
        remembered = self.tokens.get(digest)
        if remembered is not None:
            try:
                key = await self.jwks.key(remembered.kid)
            except Unauthenticated:
                self.tokens.drop(digest)
                raise
            if key is remembered.key:
                return remembered.caller
            self.tokens.drop(digest)  # the kid now names another key: verify again
        caller, kid, key, exp = await self._verify(token, self.jwks)
        self.tokens.put(digest, caller, kid, key, exp)
        return caller

    async def _verify(self, token: str, jwks: Jwks) -> tuple[Caller, str, PyJWK, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The token is malformed.") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise Unauthenticated("The token's algorithm is not accepted; use RS256, ES256 or EdDSA.")
        if not isinstance(kid, str):
            raise Unauthenticated("The token has no key id (kid).")
        key = await jwks.key(kid)
        claims = self._decode(token, key, alg)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated("The token has no subject (sub).")
        parties = self.settings.jwt_authorized_parties
        if parties and claims.get("azp") not in parties:
            raise Unauthenticated("The token's authorized party (azp) is not accepted.")
        tier = claim_at(claims, self.settings.tier_claim)
        if tier is None:
            tier = TOKEN_DEFAULT_TIER
        if not isinstance(tier, str) or tier not in self.tiers:
            raise Unauthenticated("The token names an unknown tier.")
        return Caller(self.tiers[tier], f"sub:{subject_identity(sub)}", "jwt"), kid, key, \
            float(claims["exp"])

    def _decode(self, token: str, key: PyJWK, alg: str) -> dict[str, Any]:
        s = self.settings
        try:
            return jwt.decode(
                token, key, algorithms=[alg], issuer=s.jwt_issuer,
                audience=list(s.jwt_audience) or None, leeway=s.jwt_leeway,
                options={"require": ["exp", "iss", "sub"], "verify_aud": bool(s.jwt_audience)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthenticated("The token is not valid yet.") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("The token's issuer is not accepted.") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("The token's audience is not accepted.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"The token lacks the {exc.claim!r} claim.") from exc
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError) as exc:
            raise Unauthenticated("The token's signature is invalid.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The token is malformed.") from exc

    def client_address(self, conn: HTTPConnection) -> str:
        """The client's address as ``ipaddress`` writes it, or ``unknown``.

        ``X-Forwarded-For`` counts only when the peer is a trusted proxy; the client is then
        the rightmost hop no trusted proxy added. A hop that is not an address stops the
        walk at the last address we could read, so text a client made up never names it.
        """
        peer = conn.client.host if conn.client else ""
        address, trusted = self._peer(peer) if len(peer) <= MAX_ADDRESS_TEXT else (None, False)
        if address is None:
            return UNKNOWN_ADDRESS
        if trusted:
            hops = [hop for value in conn.headers.getlist("x-forwarded-for")
                    for hop in value.split(",")]
            for hop in reversed(hops):
                ip = parse_address(hop)
                if ip is None:
                    break
                address = str(ip)
                if not self._is_trusted_proxy(ip):
                    break
        return address

    def _peer_of(self, peer: str) -> tuple[str | None, bool]:
        """The peer's canonical text and whether it is a trusted proxy (cached per peer)."""
        ip = parse_address(peer)
        if ip is None:
            return None, False
        return str(ip), self._is_trusted_proxy(ip)

    def _is_trusted_proxy(self, ip: Address) -> bool:
        return any(ip in net for net in self.proxies)


def parse_address(text: str) -> Address | None:
    """An address written as ``1.2.3.4``, ``1.2.3.4:80``, ``::1`` or ``[::1]:80``; ``None``
    for anything else. IPv4-mapped IPv6 reads as IPv4, and an IPv6 zone is dropped."""
    text = text.strip()
    if len(text) > MAX_ADDRESS_TEXT:
        return None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        text = host
    elif text.count(":") == 1:
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            return ipaddress.IPv6Address(int(ip))
    return ip


def budget_address(address: str) -> str:
    """What an anonymous budget is named after: an IPv4 address, an IPv6 client's /64 (one
    subscriber gets a /64 or more, so single addresses would give one client 2^64 budgets),
    or ``unknown``."""
    ip = parse_address(address)
    if ip is None:
        return UNKNOWN_ADDRESS
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def subject_identity(sub: str) -> str:
    """A token subject as a budget identity: itself when short and plain, else a digest
    (``#`` is never in a plain one, so the two forms cannot collide)."""
    if SAFE_SUBJECT.fullmatch(sub):
        return sub
    return "#" + hashlib.sha256(sub.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def credentials(conn: HTTPConnection) -> tuple[str | None, str | None]:
    """The first ``Authorization`` and ``X-API-Key`` values, in one pass over the headers
    (as ``conn.headers.get`` reads them; its miss raises and catches a KeyError, and most
    callers send neither)."""
    authorization = api_key = None
    for name, value in conn.scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1")
    return authorization, api_key


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted claim path (``metadata.tier``), ``None`` when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
