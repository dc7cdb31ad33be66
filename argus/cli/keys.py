"""``argus keys add / list / revoke``: API keys (``X-API-Key``) in Redis, printed once.

What a key is and how requests look it up is ``argus.policy.api_keys``.
"""

from __future__ import annotations

import time
from typing import Annotated

import redis
import typer

from argus import keys
from argus.cli.common import fail
from argus.data.store import SyncClient, create_sync_client
from argus.errors import ArgusError
from argus.policy.api_keys import PREFIX, digest_of, new_key, record_of
from argus.policy.tiers import TierTable
from argus.settings import Settings

keys_app = typer.Typer(help="API keys (X-API-Key): add, list, revoke.", no_args_is_help=True)


def _sync_client() -> tuple[SyncClient, TierTable]:
    try:
        settings = Settings.from_env()
        tiers = TierTable.load(settings.tiers_file)
    except ArgusError as exc:
        raise fail(exc.message) from exc
    return create_sync_client(settings), tiers


@keys_app.command("add")
def add(
    tier: Annotated[str, typer.Option(help="The key's tier, e.g. internal.")],
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. apex.")],
) -> None:
    """Create a key and print it once; only its SHA-256 digest is stored."""
    client, tiers = _sync_client()
    if tier not in tiers:
        raise fail(f"unknown tier {tier!r}; one of {', '.join(tiers)}")
    key = new_key()
    digest = digest_of(key)
    try:
        client.hset(keys.api_key(digest),
                    mapping={"tier": tier, "name": name, "created": str(int(time.time()))})
    except redis.RedisError as exc:
        raise fail(f"Redis: {exc}") from exc
    typer.echo(key)
    typer.echo(f"id {digest[:12]} tier {tier} name {name}; the key is not shown again", err=True)


@keys_app.command("list")
def list_keys() -> None:
    """List key ids, tiers and names (never the keys)."""
    client, _ = _sync_client()
    try:
        for name in client.scan_iter(match=keys.API_KEY_PATTERN, count=1_000):
            digest = keys.text(name).rsplit(":", 1)[-1]
            record = record_of(digest, client.hgetall(name))
            if record is not None:
                typer.echo(f"{record.id}\t{record.tier}\t{record.name}")
    except redis.RedisError as exc:
        raise fail(f"Redis: {exc}") from exc


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The id shown by `keys list` (or the key).")],
) -> None:
    """Revoke a key by its id; every instance stops accepting it within the cache time."""
    client, _ = _sync_client()
    prefix = digest_of(key_id) if key_id.startswith(PREFIX) else key_id.lower()
    if len(prefix) < 8 or any(c not in "0123456789abcdef" for c in prefix):
        raise fail("give at least 8 hex characters of the key id")
    try:
        matches = [name for name in client.scan_iter(match=keys.api_key(prefix) + "*", count=1_000)]
        if len(matches) != 1:
            raise fail(f"{len(matches)} keys match {key_id!r}; expected exactly one")
        client.delete(matches[0])
    except redis.RedisError as exc:
        raise fail(f"Redis: {exc}") from exc
    typer.echo(f"revoked {prefix[:12]}")
