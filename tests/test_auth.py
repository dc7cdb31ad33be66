"""Authentication: JWTs against a test JWKS, API keys, anonymous callers; every attack is 401."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import HTTPConnection
from starlette.testclient import TestClient

from argus.app import create_app
from argus.auth import claim_at
from tests.tokens import ISSUER, Issuer, bearer

QUERY = '{ symbol(symbol: "BTC") { symbol } }'


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    return Issuer(tmp_path)


@pytest.fixture
def client(issuer: Issuer, redis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(issuer.settings(redis_url, jwks_refresh_cooldown=0.0))) as c:
        yield c


def post(client: TestClient, headers: dict[str, str]) -> Any:
    return client.post("/graphql", json={"query": QUERY}, headers=headers)


def assert_unauthenticated(response: Any) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert response.headers["cache-control"] == "private, no-store"


@pytest.mark.parametrize("kid", ["rsa1", "ec1", "ed1"])
def test_rs256_es256_and_eddsa_tokens_are_accepted_with_their_tier(
        client: TestClient, issuer: Issuer, kid: str) -> None:
    response = post(client, bearer(issuer.token(kid, tier="pro")))
    assert response.status_code == 200, response.text
    assert response.headers["ratelimit-limit"] == "30000"  # the pro budget


def test_a_valid_token_without_tier_claim_is_free(client: TestClient, issuer: Issuer) -> None:
    response = post(client, bearer(issuer.token()))
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "1500"


def test_no_credentials_is_the_anonymous_tier(client: TestClient) -> None:
    response = post(client, {})
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "600"


def test_the_tier_claim_path_is_configurable_for_clerk_metadata(
        issuer: Issuer, redis_url: str) -> None:
    settings = issuer.settings(redis_url, tier_claim="metadata.tier")
    with TestClient(create_app(settings)) as c:
        response = post(c, bearer(issuer.token(metadata={"tier": "enterprise"}, tier="anonymous")))
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "300000"


def test_forged_signature_is_401(client: TestClient, issuer: Issuer) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_unauthenticated(post(client, bearer(issuer.token("rsa1", key=other, tier="internal"))))


def test_alg_none_is_401(client: TestClient, issuer: Issuer) -> None:
    assert_unauthenticated(post(client, bearer(issuer.unsigned(tier="internal"))))


def test_hs256_signed_with_the_public_key_is_401(client: TestClient, issuer: Issuer) -> None:
    assert_unauthenticated(post(client, bearer(issuer.hs256_with_public_key(tier="internal"))))


def test_a_token_whose_alg_differs_from_its_key_is_401(client: TestClient, issuer: Issuer) -> None:
    import jwt

    token = jwt.encode(issuer.claims(), issuer.private["ec1"], algorithm="ES256",
                       headers={"kid": "rsa1"})
    assert_unauthenticated(post(client, bearer(token)))


def test_expired_token_is_401_not_anonymous(client: TestClient, issuer: Issuer) -> None:
    response = post(client, bearer(issuer.token(exp=int(time.time()) - 120)))
    assert_unauthenticated(response)
    assert response.json()["errors"][0]["message"] == "The token has expired."


def test_a_token_expired_within_the_leeway_is_accepted(client: TestClient, issuer: Issuer) -> None:
    assert post(client, bearer(issuer.token(exp=int(time.time()) - 5))).status_code == 200


def test_a_token_not_valid_yet_is_401(client: TestClient, issuer: Issuer) -> None:
    assert_unauthenticated(post(client, bearer(issuer.token(nbf=int(time.time()) + 600))))


def test_wrong_issuer_is_401(client: TestClient, issuer: Issuer) -> None:
    response = post(client, bearer(issuer.token(iss="https://evil.example.test")))
    assert_unauthenticated(response)
    assert response.json()["errors"][0]["message"] == "The token's issuer is not accepted."


def test_unknown_kid_is_401(client: TestClient, issuer: Issuer) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_unauthenticated(post(client, bearer(issuer.token("rsa9", key=other))))


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "", "eyJhbGciOiJSUzI1NiJ9..", "!!!.@@@.###"])
def test_garbage_tokens_are_401(client: TestClient, garbage: str) -> None:
    assert_unauthenticated(post(client, {"Authorization": f"Bearer {garbage}"}))


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "token abc"])
def test_a_non_bearer_authorization_header_is_401(client: TestClient, header: str) -> None:
    assert_unauthenticated(post(client, {"Authorization": header}))


def test_a_token_without_sub_or_exp_is_401(client: TestClient, issuer: Issuer) -> None:
    assert_unauthenticated(post(client, bearer(issuer.token(sub=None))))
    assert_unauthenticated(post(client, bearer(issuer.token(exp=None))))


def test_a_token_naming_an_unknown_tier_is_401(client: TestClient, issuer: Issuer) -> None:
    assert_unauthenticated(post(client, bearer(issuer.token(tier="platinum"))))


def test_audience_and_authorized_parties_are_checked_when_configured(
        issuer: Issuer, redis_url: str) -> None:
    settings = issuer.settings(redis_url, jwt_audience=("argus",),
                               jwt_authorized_parties=("https://app.example.test",))
    good = {"aud": "argus", "azp": "https://app.example.test"}
    with TestClient(create_app(settings)) as c:
        assert post(c, bearer(issuer.token(**good))).status_code == 200
        assert_unauthenticated(post(c, bearer(issuer.token(**{**good, "aud": "other"}))))
        assert_unauthenticated(post(c, bearer(issuer.token(**{**good, "azp": "https://evil.test"}))))
        assert_unauthenticated(post(c, bearer(issuer.token(aud="argus"))))


def test_a_rotated_key_is_fetched_once_on_its_unknown_kid(client: TestClient, issuer: Issuer) -> None:
    assert post(client, bearer(issuer.token())).status_code == 200  # the JWKS is now cached
    issuer.private["rsa2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer.publish()
    assert post(client, bearer(issuer.token("rsa2", tier="pro"))).status_code == 200


def test_bearer_tokens_are_401_when_no_jwks_is_configured(
        issuer: Issuer, settings: Any) -> None:
    with TestClient(create_app(settings)) as c:
        assert_unauthenticated(post(c, bearer(issuer.token())))


def test_require_auth_refuses_anonymous_callers(issuer: Issuer, redis_url: str) -> None:
    with TestClient(create_app(issuer.settings(redis_url, require_auth=True))) as c:
        assert_unauthenticated(post(c, {}))
        assert post(c, bearer(issuer.token())).status_code == 200


def test_both_a_token_and_an_api_key_is_401(client: TestClient, issuer: Issuer) -> None:
    assert_unauthenticated(post(client, {**bearer(issuer.token()), "X-API-Key": "argus_x"}))


def test_the_rest_route_refuses_bad_tokens_too(client: TestClient, issuer: Issuer) -> None:
    response = client.get("/api/intelligence/BTC", headers=bearer(issuer.unsigned()))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


def _connection(peer: str, forwarded: str | None) -> HTTPConnection:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    return HTTPConnection({"type": "http", "headers": headers, "client": (peer, 1234)})


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
        issuer: Issuer, redis_url: str) -> None:
    from argus.auth import Authenticator
    from argus.tiers import TierTable

    settings = issuer.settings(redis_url, trusted_proxies=("10.0.0.0/8",))
    auth = Authenticator(settings, TierTable.default(), None)  # type: ignore[arg-type]
    assert auth.client_address(_connection("203.0.113.9", "1.2.3.4")) == "203.0.113.9"
    assert auth.client_address(_connection("10.0.0.2", "1.2.3.4")) == "1.2.3.4"
    assert auth.client_address(_connection("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.7")) == "1.2.3.4"
    assert auth.client_address(_connection("10.0.0.2", None)) == "10.0.0.2"


def test_claim_paths_are_dotted() -> None:
    assert claim_at({"metadata": {"tier": "pro"}}, "metadata.tier") == "pro"
    assert claim_at({"metadata": "pro"}, "metadata.tier") is None
    assert claim_at({}, "tier") is None


def test_issuer_is_required_with_a_jwks_url(redis_url: str) -> None:
    from argus.errors import ConfigurationError
    from argus.settings import Settings

    with pytest.raises(ConfigurationError):
        Settings.from_env({"ARGUS_JWKS_URL": "file:///tmp/jwks.json"})
    assert Settings.from_env({"ARGUS_JWKS_URL": "file:///x", "ARGUS_JWT_ISSUER": ISSUER}).jwt_issuer
