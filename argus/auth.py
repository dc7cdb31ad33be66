"""Who is calling: a verified JWT, an API key, or an anonymous client address.

* ``Authorization: Bearer <JWT>``: verified against the JWKS of ``ARGUS_JWKS_URL`` with
  RS256, ES256 or EdDSA only (the key's own algorithm must match the header's), issuer,
  optional audience and authorized parties (``azp``), ``exp``/``nbf`` with a leeway. The
  tier is the claim at ``ARGUS_TIER_CLAIM`` (a dotted path); no claim means ``free``.
* ``X-API-Key``: the key's configured tier (``argus.api_keys``).
* Nothing: ``ARGUS_ANONYMOUS_TIER``, or 401 when ``ARGUS_REQUIRE_AUTH`` is set.

Any credential that fails is 401 ``UNAUTHENTICATED``, never a downgrade to anonymous.
PyJWT errors are translated here. The caller's identity keys its budget: ``sub:<sub>``,
``key:<id>`` or ``ip:<address>`` (``X-Forwarded-For`` believed only from trusted proxies).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import time
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

from argus.api_keys import ApiKeys
from argus.errors import ConfigurationError, ServiceUnavailable, Unauthenticated
from argus.settings import Settings
from argus.tiers import Tier, TierTable

#: Asymmetric algorithms only: an HMAC "signed" with the public key must never verify.
ALGORITHMS: frozenset[str] = frozenset({"RS256", "ES256", "EdDSA"})
#: The tier of a valid token that carries no tier claim (``tiers.md``).
TOKEN_DEFAULT_TIER = "free"

Kind = Literal["jwt", "api_key", "anonymous"]


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
            self._keys = {k.key_id: k for k in keyset.keys if k.key_id}
            self._fetched_at = time.monotonic()


class Authenticator:
    def __init__(self, settings: Settings, tiers: TierTable, api_keys: ApiKeys) -> None:
        if settings.anonymous_tier not in tiers:
            raise ConfigurationError(f"ARGUS_ANONYMOUS_TIER names no tier: {settings.anonymous_tier!r}")
        self.settings = settings
        self.tiers = tiers
        self.api_keys = api_keys
        self.jwks = Jwks(settings) if settings.jwks_url else None
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        # Parsing an address costs more than the rest of an anonymous request's auth; the
        # answer depends only on the address and the fixed proxy list.
        self._trusted = lru_cache(maxsize=4096)(self._is_trusted_proxy)
        # An anonymous caller is a function of its address: one Caller per address.
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
        return Caller(self.tiers[self.settings.anonymous_tier], f"ip:{address}", "anonymous")

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
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The token is malformed.") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise Unauthenticated("The token's algorithm is not accepted; use RS256, ES256 or EdDSA.")
        if not isinstance(kid, str):
            raise Unauthenticated("The token has no key id (kid).")
        key = await self.jwks.key(kid)
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
        return Caller(self.tiers[tier], f"sub:{sub}", "jwt")

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
        peer = conn.client.host if conn.client else "unknown"
        if not self._trusted(peer):
            return peer
        hops = [hop.strip() for value in conn.headers.getlist("x-forwarded-for")
                for hop in value.split(",") if hop.strip()]
        # The rightmost address a trusted proxy did not add is the client.
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _is_trusted_proxy(self, address: str) -> bool:
        if not self.proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)


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
