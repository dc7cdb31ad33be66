from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from argus.app import create_app
from argus.settings import Settings
from tests.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session, on a free port."""
    server = RedisServer().start()
    yield server
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
