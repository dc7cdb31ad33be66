"""API keys: created by the CLI, stored as SHA-256 digests, cached briefly, revocable."""

from __future__ import annotations

from typing import Any

import redis
from starlette.testclient import TestClient
from typer.testing import CliRunner

from argus.cli.keys import keys_app
from argus.http.app import create_app
from argus.policy.api_keys import digest_of
from argus.settings import Settings

QUERY = '{ symbol(symbol: "BTC") { symbol } }'


def cli(redis_url: str, *args: str) -> Any:
    return CliRunner().invoke(keys_app, list(args), env={"ARGUS_REDIS_URL": redis_url})


def add_key(redis_url: str, tier: str, name: str) -> str:
    result = cli(redis_url, "add", "--tier", tier, "--name", name)
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip().splitlines()[0])


def app_settings(redis_url: str, **overrides: Any) -> Settings:
    return Settings.from_env({}, redis_url=redis_url, universe_refresh=3_600.0, **overrides)


def test_a_key_maps_to_its_tier_and_is_stored_only_as_a_digest(
        redis_url: str, sync_redis: redis.Redis) -> None:
    key = add_key(redis_url, "pro", "dashboards")
    stored = sync_redis.keys("argus:apikey:*")
    assert stored == [f"argus:apikey:{digest_of(key)}"]
    assert key not in str(sync_redis.hgetall(stored[0]))
    with TestClient(create_app(app_settings(redis_url))) as client:
        response = client.post("/graphql", json={"query": QUERY}, headers={"X-API-Key": key})
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "30000"


def test_an_internal_key_has_no_budget(redis_url: str) -> None:
    key = add_key(redis_url, "internal", "apex")
    with TestClient(create_app(app_settings(redis_url))) as client:
        response = client.post("/graphql", json={"query": QUERY}, headers={"X-API-Key": key})
    assert response.status_code == 200
    assert "ratelimit-limit" not in response.headers


def test_an_unknown_key_is_401(redis_url: str) -> None:
    with TestClient(create_app(app_settings(redis_url))) as client:
        response = client.post("/graphql", json={"query": QUERY}, headers={"X-API-Key": "argus_nope"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_revocation_takes_effect_after_the_cache_time(redis_url: str) -> None:
    key = add_key(redis_url, "pro", "old")
    with TestClient(create_app(app_settings(redis_url, api_key_cache=0.0))) as client:
        assert client.post("/graphql", json={"query": QUERY}, headers={"X-API-Key": key}).status_code == 200
        listed = cli(redis_url, "list")
        key_id = digest_of(key)[:12]
        assert listed.stdout.strip() == f"{key_id}\tpro\told"
        assert cli(redis_url, "revoke", key_id).exit_code == 0
        assert client.post("/graphql", json={"query": QUERY}, headers={"X-API-Key": key}).status_code == 401


def test_keys_are_cached_so_a_request_does_not_read_them_each_time(
        redis_url: str, sync_redis: redis.Redis) -> None:
    key = add_key(redis_url, "pro", "cached")
    with TestClient(create_app(app_settings(redis_url, api_key_cache=60.0))) as client:
        assert client.post("/graphql", json={"query": QUERY}, headers={"X-API-Key": key}).status_code == 200
        sync_redis.delete(f"argus:apikey:{digest_of(key)}")
        assert client.post("/graphql", json={"query": QUERY}, headers={"X-API-Key": key}).status_code == 200


def test_the_cli_refuses_unknown_tiers_and_ambiguous_revocations(redis_url: str) -> None:
    result = cli(redis_url, "add", "--tier", "gold", "--name", "x")
    assert result.exit_code == 1
    assert "unknown tier 'gold'" in result.output
    assert cli(redis_url, "revoke", "abc").exit_code == 1
    assert cli(redis_url, "revoke", "0123456789ab").exit_code == 1


def test_the_cli_reaches_a_cluster_when_argus_redis_cluster_is_set(redis_cluster_url: str) -> None:
    # Eight keys land on all three nodes' slots: a plain client would be MOVED on most.
    env = {"ARGUS_REDIS_URL": redis_cluster_url, "ARGUS_REDIS_CLUSTER": "1"}
    runner = CliRunner()
    ids = set()
    for n in range(8):
        result = runner.invoke(keys_app, ["add", "--tier", "pro", "--name", f"c{n}"], env=env)
        assert result.exit_code == 0, result.output
        ids.add(digest_of(result.stdout.strip().splitlines()[0])[:12])
    listed = runner.invoke(keys_app, ["list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert ids <= {line.split("\t")[0] for line in listed.stdout.splitlines()}


def test_the_cli_gives_up_after_the_redis_timeout_setting(redis_url: str,
                                                          sync_redis: redis.Redis) -> None:
    # Redis holds every command for 2 s: past ARGUS_REDIS_TIMEOUT (0.2 s), not past 5 s.
    env = {"ARGUS_REDIS_URL": redis_url, "ARGUS_REDIS_TIMEOUT": "0.2"}
    # redis-py leaves Redis.execute_command unannotated.
    sync_redis.execute_command("CLIENT", "PAUSE", "2000", "ALL")  # type: ignore[no-untyped-call]
    try:
        result = CliRunner().invoke(keys_app, ["list"], env=env)
    finally:
        sync_redis.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
    assert result.exit_code == 1
    assert "Timeout" in result.output
