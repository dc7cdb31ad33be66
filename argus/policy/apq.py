"""Automatic Persisted Queries, Apollo's protocol, over GET and POST.

A client sends ``extensions.persistedQuery {version: 1, sha256Hash}``:

* without ``query``: the stored text is used; unknown hash → ``PERSISTED_QUERY_NOT_FOUND``
  (200, not cacheable), and the client retries with the text;
* with ``query``: the text may be at most ``ARGUS_APQ_MAX_BYTES`` (400 ``BAD_REQUEST``),
  the hash must be its SHA-256 (400 ``BAD_REQUEST`` "provided sha does not match query"
  otherwise); the text runs like any query, and is stored only once it has parsed,
  validated within the caller's tier limits and been charged to the caller's budget: its
  registration is its first execution, charged once as that execution. A refused text
  (parse, validation, limits, budget) answers as that refusal and is not stored.

Texts live in Redis (``argus:apq:<sha>``, TTL ``ARGUS_APQ_TTL``) so every instance shares
them, and in a bounded in-memory LRU so a hot query costs no Redis round trip.
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis.asyncio as aioredis

from argus import keys
from argus.data.bounded_cache import BoundedCache
from argus.errors import PersistedQueryError, PersistedQueryNotFound, map_redis_errors
from argus.settings import Settings

MEMORY_SIZE = 2_048


class PersistedQueries:
    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._memory: BoundedCache[str, str] = BoundedCache(settings.cache_bytes, MEMORY_SIZE)

    async def resolve(self, query: str | None,
                      extensions: dict[str, Any] | None) -> tuple[str | None, str | None]:
        """The query text to run (``query`` itself, or the persisted text of its hash) and
        the hash to ``register`` once the text has passed the caller's limits and budget
        (``None`` when there is nothing to register)."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query, None
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError("Unsupported persisted query version; send version 1.")
        sha = persisted.get("sha256Hash")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise PersistedQueryError("persistedQuery.sha256Hash must be 64 lowercase hex digits.")
        if query is None:
            return await self._lookup(sha), None
        encoded = query.encode("utf-8")
        limit = self.settings.apq_max_bytes
        if len(encoded) > limit:
            raise PersistedQueryError(f"A persisted query may be at most {limit} bytes.")
        if hashlib.sha256(encoded).hexdigest() != sha:
            raise PersistedQueryError("provided sha does not match query")
        return query, (None if self._memory.get(sha) is not None else sha)

    async def register(self, sha: str, query: str) -> None:
        """Store ``query`` under ``sha``: call only for a text that parsed, validated and was
        charged to the caller's budget (its first execution), never before."""
        with map_redis_errors(self.settings.retry_after):
            await self.client.set(keys.persisted_query(sha), query, ex=self.settings.apq_ttl)
        self._remember(sha, query)

    async def _lookup(self, sha: str) -> str:
        text = self._memory.get(sha)
        if text is not None:
            return text
        with map_redis_errors(self.settings.retry_after):
            raw = await self.client.get(keys.persisted_query(sha))
        if raw is None:
            raise PersistedQueryNotFound()
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        self._remember(sha, text)
        return text

    def _remember(self, sha: str, text: str) -> None:
        self._memory.put(sha, text, len(sha) + len(text))
