"""What the policy tests share: a JWT issuer per module and an app over the test Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from argus.http.app import create_app
from tests.tokens import Issuer


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer(tmp_path_factory.mktemp("jwks"))


@pytest.fixture
def client(issuer: Issuer, redis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(issuer.settings(redis_url))) as c:
        yield c
