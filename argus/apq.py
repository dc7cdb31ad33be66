"""Automatic Persisted Queries, Apollo's protocol, over GET and POST.

A client sends ``extensions.persistedQuery {version: 1, sha256Hash}``:

* without ``query``: the stored text is used; unknown hash → ``PERSISTED_QUERY_NOT_FOUND``
  (200, not cacheable), and the client retries with the text;
* with ``query``: the hash must be the SHA-256 of the text (400 ``BAD_REQUEST``
  "provided sha does not match query" otherwise), then the text is stored.

Texts live in Redis (``argus:apq:<sha>``, TTL ``ARGUS_APQ_TTL``) so every instance shares
them, and in a bounded in-memory LRU so a hot query costs no Redis round trip.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import redis.asyncio as aioredis

from argus import keys
from argus.errors import ArgusError, map_redis_errors
from argus.settings import Settings

MEMORY_SIZE = 2_048
MAX_QUERY_BYTES = 256 * 1024


class PersistedQueryNotFound(ArgusError):
    code = "PERSISTED_QUERY_NOT_FOUND"
    status = 200

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryError(ArgusError):
    code = "BAD_REQUEST"
    status = 400


class PersistedQueries:
    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._memory: OrderedDict[str, str] = OrderedDict()

    async def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The query text to run: ``query`` itself, or the persisted text of its hash."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError("Unsupported persisted query version; send version 1.")
        sha = persisted.get("sha256Hash")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise PersistedQueryError("persistedQuery.sha256Hash must be 64 lowercase hex digits.")
        if query is None:
            return await self._lookup(sha)
        if hashlib.sha256(query.encode("utf-8")).hexdigest() != sha:
            raise PersistedQueryError("provided sha does not match query")
        if sha not in self._memory:
            await self._store(sha, query)
        return query

    async def _lookup(self, sha: str) -> str:
        text = self._memory.get(sha)
        if text is not None:
            self._memory.move_to_end(sha)
            return text
        with map_redis_errors(self.settings.retry_after):
            raw = await self.client.get(keys.persisted_query(sha))
        if raw is None:
            raise PersistedQueryNotFound()
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        self._remember(sha, text)
        return text

    async def _store(self, sha: str, query: str) -> None:
        if len(query.encode("utf-8")) > MAX_QUERY_BYTES:
            raise PersistedQueryError(f"A persisted query may be at most {MAX_QUERY_BYTES} bytes.")
        with map_redis_errors(self.settings.retry_after):
            await self.client.set(keys.persisted_query(sha), query, ex=self.settings.apq_ttl)
        self._remember(sha, query)

    def _remember(self, sha: str, text: str) -> None:
        self._memory[sha] = text
        if len(self._memory) > MEMORY_SIZE:
            self._memory.popitem(last=False)
