from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from argus.http.app import create_app
from argus.settings import Settings
from tests.redis_server import RedisServer, free_cluster_port


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session, on a free port."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, emptied before each test (it is ours: we started it)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    """Settings for the read path with no tier limits (the injectable ``internal`` policy)."""
    return Settings.from_env({}, redis_url=redis_url, anonymous_tier="internal",
                             universe_refresh=3_600.0)


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    """The app on the real test Redis, lifespan running."""
    with TestClient(create_app(settings)) as client:
        yield client


def gql(client: TestClient, query: str, variables: dict[str, Any] | None = None,
        **headers: str) -> Any:
    """POST a query; return the parsed body (asserting nothing about it)."""
    response = client.post("/graphql", json={"query": query, "variables": variables},
                           headers=headers)
    return response.json()


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A real three-node Redis Cluster (no replicas) on free ports, for the session."""
    nodes = [RedisServer(free_cluster_port(), "--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
             for _ in range(3)]
    try:
        for node in nodes:
            node.extra = (*node.extra, "--cluster-config-file", str(node.dir / "nodes.conf"))
            node.start()
        cli = shutil.which("redis-cli")
        assert cli is not None
        subprocess.run(
            [cli, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes],
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # every node must agree before we write
            states = [redis.Redis(port=n.port).cluster("info").get("cluster_state") for n in nodes]
            if states == ["ok"] * 3:
                break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{nodes[0].port}/0"
    finally:
        for node in nodes:
            node.stop()


def strip_cost(body: dict[str, Any]) -> dict[str, Any]:
    """The body without ``extensions.cost``, which every response carries (docs/contract/tiers.md)."""
    assert "requested" in body["extensions"]["cost"]
    return {k: v for k, v in body.items() if k != "extensions"}
