"""API keys (``X-API-Key``): SHA-256 digests in Redis, a short in-memory cache, and a CLI.

Keys are 256 random bits, so a fast digest is enough (``docs/contract/clarifications.md`` §11): a slow
password hash would cost every request. Redis holds ``argus:apikey:<sha256 hex>`` →
``{tier, name, created}``; the key itself is printed once by ``argus keys add`` and stored
nowhere. Lookups, found or not, are cached for ``ARGUS_API_KEY_CACHE`` seconds, which is
how long a revocation takes to reach every instance.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

import redis
import redis.asyncio as aioredis
import typer

from argus import keys
from argus.data.store import create_sync_client
from argus.errors import ArgusError, map_redis_errors
from argus.policy.tiers import TierTable
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(digest: str, raw: dict[Any, Any]) -> ApiKey | None:
    fields = {_text(k): _text(v) for k, v in raw.items()}
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
        found = _record(digest, raw)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[digest] = (now + self.settings.api_key_cache, found)
        return found


# --- CLI: argus keys add / list / revoke -------------------------------------------------

keys_app = typer.Typer(help="API keys (X-API-Key): add, list, revoke.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _sync_client() -> tuple[redis.Redis, TierTable]:
    try:
        settings = Settings.from_env()
        tiers = TierTable.load(settings.tiers_file)
    except ArgusError as exc:
        raise _fail(exc.message) from exc
    return create_sync_client(settings), tiers


@keys_app.command("add")
def add(
    tier: Annotated[str, typer.Option(help="The key's tier, e.g. internal.")],
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. apex.")],
) -> None:
    """Create a key and print it once; only its SHA-256 digest is stored."""
    client, tiers = _sync_client()
    if tier not in tiers:
        raise _fail(f"unknown tier {tier!r}; one of {', '.join(tiers)}")
    key = new_key()
    digest = digest_of(key)
    try:
        client.hset(keys.api_key(digest),
                    mapping={"tier": tier, "name": name, "created": str(int(time.time()))})
    except redis.RedisError as exc:
        raise _fail(f"Redis: {exc}") from exc
    typer.echo(key)
    typer.echo(f"id {digest[:12]} tier {tier} name {name}; the key is not shown again", err=True)


@keys_app.command("list")
def list_keys() -> None:
    """List key ids, tiers and names (never the keys)."""
    client, _ = _sync_client()
    try:
        for name in client.scan_iter(match=keys.API_KEY_PATTERN, count=1_000):
            digest = _text(name).rsplit(":", 1)[-1]
            record = _record(digest, client.hgetall(name))
            if record is not None:
                typer.echo(f"{record.id}\t{record.tier}\t{record.name}")
    except redis.RedisError as exc:
        raise _fail(f"Redis: {exc}") from exc


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The id shown by `keys list` (or the key).")],
) -> None:
    """Revoke a key by its id; every instance stops accepting it within the cache time."""
    client, _ = _sync_client()
    prefix = digest_of(key_id) if key_id.startswith(PREFIX) else key_id.lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise _fail("give at least 8 hex characters of the key id")
    try:
        matches = [name for name in client.scan_iter(match=keys.api_key(prefix) + "*", count=1_000)]
        if len(matches) != 1:
            raise _fail(f"{len(matches)} keys match {key_id!r}; expected exactly one")
        client.delete(matches[0])
    except redis.RedisError as exc:
        raise _fail(f"Redis: {exc}") from exc
    typer.echo(f"revoked {prefix[:12]}")
