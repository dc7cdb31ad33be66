"""API keys (``X-API-Key``): SHA-256 digests in Redis and a short in-memory cache.

Keys are 256 random bits, so a fast digest is enough (``docs/contract/clarifications.md`` §11): a slow
password hash would cost every request. Redis holds ``argus:apikey:<sha256 hex>`` →
``{tier, name, created}``; the key itself is printed once by ``argus keys add`` and stored
nowhere. Lookups, found or not, are cached for ``ARGUS_API_KEY_CACHE`` seconds, which is
how long a revocation takes to reach every instance. ``argus keys`` (``argus.cli.keys``)
adds, lists and revokes them.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from argus import keys
from argus.errors import map_redis_errors
from argus.settings import Settings

PREFIX = "argus_"
#: Above this many cached lookups the cache is emptied (random keys must not grow it).
CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class ApiKey:
    digest: str
    tier: str
    name: str

    @property
    def id(self) -> str:
        """A short public identifier (budgets, logs, revocation): the digest's first 12 hex."""
        return self.digest[:12]


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)




def record_of(digest: str, raw: dict[Any, Any]) -> ApiKey | None:
    fields = {keys.text(k): keys.text(v) for k, v in raw.items()}
    if "tier" not in fields:
        return None
    return ApiKey(digest, fields["tier"], fields.get("name", ""))


class ApiKeys:
    """Looks keys up in Redis through a short-lived in-memory cache."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    async def lookup(self, key: str) -> ApiKey | None:
        digest = digest_of(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        with map_redis_errors(self.settings.retry_after):
            raw = await self.client.hgetall(keys.api_key(digest))
        found = record_of(digest, raw)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[digest] = (now + self.settings.api_key_cache, found)
        return found
