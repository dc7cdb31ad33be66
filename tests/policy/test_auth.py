"""Authentication: JWTs against a test JWKS, API keys, anonymous callers; every attack is 401."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK
from starlette.requests import HTTPConnection
from starlette.testclient import TestClient

from argus.http.app import create_app
from argus.policy.auth import claim_at
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
    from argus.policy.auth import Authenticator
    from argus.policy.tiers import TierTable

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


# --- Budget identities: validated addresses, subjects and key ids only ---------------------

COSTLY = '{ symbol(symbol: "BTC") { correlations(first: 40) { coefficient } } }'  # costs 41
#: What a caller may write in X-Forwarded-For that is not an address.
GARBAGE = ["not-an-ip", "1.2.3.4.5", "x" * 2_000, "*", "{BINANCE:BTC-USDT}", "argus:budget:ip:9.9.9.9",
           "127.0.0.1:port", "[::1", "ip:1.2.3.4 evil", "::1::2"]


def budget_keys(redis_url: str) -> set[str]:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return set(cast("list[str]", client.keys("argus:budget:*")))  # decode_responses=True: text
    finally:
        client.close()


def test_forwarded_text_that_is_not_an_address_never_names_the_client(
        issuer: Issuer, redis_url: str) -> None:
    from argus.policy.auth import Authenticator
    from argus.policy.tiers import TierTable

    settings = issuer.settings(redis_url, trusted_proxies=("10.0.0.0/8",))
    auth = Authenticator(settings, TierTable.default(), None)  # type: ignore[arg-type]
    for garbage in GARBAGE:
        assert auth.client_address(_connection("10.0.0.2", garbage)) == "10.0.0.2", garbage
        # A hop that cannot be read stops the walk at the last address that could.
        assert auth.client_address(_connection("10.0.0.2", f"1.2.3.4, {garbage}, 10.0.0.9")) == "10.0.0.9"
    assert auth.client_address(_connection("10.0.0.2", "[2001:db8::1]:443")) == "2001:db8::1"
    assert auth.client_address(_connection("10.0.0.2", "198.51.100.4:5555")) == "198.51.100.4"
    assert auth.client_address(_connection("::ffff:10.0.0.2", "198.51.100.4")) == "198.51.100.4"
    assert auth.client_address(_connection("10.0.0.2", "fe80::1%eth0;DROP")) == "fe80::1"  # no zone
    assert auth.client_address(_connection("not-a-peer", "198.51.100.4")) == "unknown"


def test_budget_key_names_refuse_raw_text() -> None:
    from argus import keys

    assert keys.budget("ip:203.0.113.5") == "argus:budget:ip:203.0.113.5"
    assert keys.budget("ip:2001:db8::/64") == "argus:budget:ip:2001:db8::/64"
    assert keys.budget("key:0123456789ab") == "argus:budget:key:0123456789ab"
    for raw in ["ip:testclient", "ip:{BTC}", "sub:a b", "sub:" + "x" * 200, "x", "ip:1.2.3.4\r\nDEL"]:
        with pytest.raises(ValueError, match="not a budget identity"):
            keys.budget(raw)


def test_ipv6_clients_share_the_budget_of_their_64(issuer: Issuer, redis_url: str) -> None:
    settings = issuer.settings(redis_url)
    for address in ("2001:db8:1:2::5", "2001:db8:1:2:ffff::9"):
        with TestClient(create_app(settings), client=(address, 1234)) as c:
            assert post(c, {}).status_code == 200
    assert budget_keys(redis_url) == {"argus:budget:ip:2001:db8:1:2::/64"}


def test_a_subject_that_is_not_plain_text_is_hashed_into_its_budget_key(
        issuer: Issuer, redis_url: str) -> None:
    sub = "user/../{BINANCE:BTC-USDT} *\u00e9"
    with TestClient(create_app(issuer.settings(redis_url))) as c:
        assert post(c, bearer(issuer.token(tier="anonymous", sub=sub))).status_code == 200
        assert post(c, bearer(issuer.token(tier="anonymous", sub="user_2abcDEF"))).status_code == 200
    found = budget_keys(redis_url)
    assert "argus:budget:sub:user_2abcDEF" in found
    (hashed,) = found - {"argus:budget:sub:user_2abcDEF"}
    assert hashed.startswith("argus:budget:sub:#") and len(hashed) == len("argus:budget:sub:#") + 32


def served_before_429(base: str, forwarded: list[str]) -> int:
    import httpx

    with httpx.Client(base_url=base, timeout=10.0) as http:
        for n in range(60):
            response = http.post("/graphql", json={"query": COSTLY},
                                 headers={"X-Forwarded-For": forwarded[n % len(forwarded)]})
            if response.status_code == 429:
                return n
            assert response.status_code == 200, response.text
    raise AssertionError("never limited: every forwarded address got a fresh budget")


def test_rotating_x_forwarded_for_from_an_untrusted_peer_shares_one_budget(redis_url: str) -> None:
    from tests.live_server import live_server

    rotating = [f"198.51.100.{n}" for n in range(1, 30)] + GARBAGE
    with live_server(redis_url) as base:
        # 600 points at 41 a request, plus what refills (10 points/s) on a slow machine.
        assert 600 // 41 <= served_before_429(base, rotating) <= 600 // 41 + 2
    assert budget_keys(redis_url) == {"argus:budget:ip:127.0.0.1"}


def test_with_the_peer_trusted_the_forwarded_address_keys_the_budget(redis_url: str) -> None:
    import httpx

    from tests.live_server import live_server

    with live_server(redis_url, {"ARGUS_TRUSTED_PROXIES": "127.0.0.1"}) as base:
        assert 600 // 41 <= served_before_429(base, ["203.0.113.7"]) <= 600 // 41 + 2
        with httpx.Client(base_url=base, timeout=10.0) as http:
            # Another forwarded client has its own budget. (Costly requests: a budget key
            # lives until its budget is full again, 4.1 s for 41 points.)
            other = http.post("/graphql", json={"query": COSTLY}, headers={"X-Forwarded-For": "203.0.113.8"})
            assert other.status_code == 200
            for garbage in GARBAGE:
                response = http.post("/graphql", json={"query": COSTLY},
                                     headers={"X-Forwarded-For": garbage})
                assert response.status_code in (200, 429)
    found = budget_keys(redis_url)
    assert {"argus:budget:ip:203.0.113.7", "argus:budget:ip:203.0.113.8"} <= found
    # What is not an address names one shared budget, never a key of its own.
    assert found <= {"argus:budget:ip:203.0.113.7", "argus:budget:ip:203.0.113.8",
                     "argus:budget:ip:unknown", "argus:budget:ip:127.0.0.1"}


# --- Verified tokens are remembered: by digest, until exp, bounded, dropped on rotation ----

class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class CountingAuth:
    """An Authenticator on the test issuer, with an injected clock and a count of the
    signature verifications it does."""

    def __init__(self, issuer: Issuer, redis_url: str, **overrides: Any) -> None:
        from argus.policy.auth import Authenticator
        from argus.policy.tiers import TierTable

        settings = issuer.settings(redis_url, jwks_refresh_cooldown=0.0, **overrides)
        self.auth = Authenticator(settings, TierTable.default(), None)  # type: ignore[arg-type]
        self.clock = Clock()
        self.auth.tokens.clock = self.clock
        self.verified = 0
        decode = self.auth._decode

        def counting(token: str, key: PyJWK, alg: str) -> dict[str, Any]:
            self.verified += 1
            return decode(token, key, alg)

        self.auth._decode = counting  # type: ignore[method-assign]

    def __call__(self, token: str) -> Any:
        import asyncio

        conn = HTTPConnection({"type": "http", "client": ("203.0.113.1", 1),
                               "headers": [(b"authorization", f"Bearer {token}".encode())]})
        return asyncio.run(self.auth.authenticate(conn))


def test_a_verified_token_is_remembered_by_its_digest(issuer: Issuer, redis_url: str) -> None:
    counting = CountingAuth(issuer, redis_url)
    token = issuer.token(tier="pro", sub="alice")
    first = counting(token)
    assert [counting(token) for _ in range(5)] == [first] * 5
    assert counting.verified == 1
    assert (counting.auth.tokens.hits, counting.auth.tokens.misses) == (5, 1)
    # The cache holds a digest of the token, never the token.
    assert all(len(k) == 32 and token.encode() not in k for k in counting.auth.tokens._entries)
    counting(issuer.token(tier="pro", sub="alice", jti="2"))  # another token, same subject
    assert counting.verified == 2


def test_a_remembered_token_expires_at_its_exp(issuer: Issuer, redis_url: str) -> None:
    counting = CountingAuth(issuer, redis_url)
    exp = int(counting.clock.now) + 120
    token = issuer.token(exp=exp)
    counting(token)
    counting.clock.now = exp - 1
    counting(token)
    assert counting.verified == 1
    counting.clock.now = exp
    counting(token)  # verified again (PyJWT's own clock still accepts it)...
    counting(token)
    assert counting.verified == 3  # ...and no longer remembered
    assert len(counting.auth.tokens) == 0


def test_a_remembered_token_expires_at_the_cap_before_its_exp(issuer: Issuer, redis_url: str) -> None:
    counting = CountingAuth(issuer, redis_url, jwt_cache_ttl=60.0)
    token = issuer.token(exp=int(counting.clock.now) + 3_600)
    counting(token)
    counting.clock.now += 59
    counting(token)
    assert counting.verified == 1
    counting.clock.now += 1
    counting(token)
    assert counting.verified == 2


def test_the_token_cache_is_bounded_by_entries_and_bytes(issuer: Issuer, redis_url: str) -> None:
    by_count = CountingAuth(issuer, redis_url, jwt_cache_size=3)
    tokens = [issuer.token(sub=f"user_{n}") for n in range(6)]
    for token in tokens:
        by_count(token)
    assert len(by_count.auth.tokens) == 3
    by_count(tokens[-1])  # the most recent stay
    by_count(tokens[0])  # the oldest went
    assert by_count.verified == 7

    from argus.policy.auth import VerifiedTokens

    by_bytes = CountingAuth(issuer, redis_url, jwt_cache_bytes=3 * VerifiedTokens.OVERHEAD)
    for token in tokens:
        by_bytes(token)
    assert len(by_bytes.auth.tokens) == 2
    assert by_bytes.auth.tokens.bytes <= 3 * VerifiedTokens.OVERHEAD
    assert by_bytes.auth.tokens.bytes == sum(e.size for e in by_bytes.auth.tokens._entries.values())

    off = CountingAuth(issuer, redis_url, jwt_cache_size=0)
    off(tokens[0])
    off(tokens[0])
    assert off.verified == 2 and len(off.auth.tokens) == 0


def test_a_remembered_token_is_dropped_when_the_jwks_no_longer_holds_its_key(
        issuer: Issuer, redis_url: str) -> None:
    from argus.errors import Unauthenticated

    # A JWKS trusted for 0 s: every request refetches it, as after its lifespan.
    counting = CountingAuth(issuer, redis_url, jwks_lifespan=0.0)
    token, other = issuer.token("rsa1"), issuer.token("ec1")
    counting(token)
    counting(other)
    counting(token)  # refetched, the key unchanged: still remembered
    assert counting.verified == 2
    del issuer.private["rsa1"]
    issuer.publish()
    with pytest.raises(Unauthenticated, match="signing key is unknown"):
        counting(token)
    assert len(counting.auth.tokens) == 1  # only the EC token's entry is left
    counting(other)
    assert counting.verified == 2


def test_a_remembered_token_is_verified_again_when_its_kid_names_a_new_key(
        issuer: Issuer, redis_url: str) -> None:
    from argus.errors import Unauthenticated

    counting = CountingAuth(issuer, redis_url, jwks_lifespan=0.0)
    token = issuer.token("rsa1")
    counting(token)
    issuer.private["rsa1"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer.publish()  # the same kid, another key
    with pytest.raises(Unauthenticated, match="signature is invalid"):
        counting(token)
    assert counting.verified == 2
    assert len(counting.auth.tokens) == 0


@pytest.mark.parametrize("proxy", ["proxy.example.test", "10.0.0.0/33", "1.2.3.4.5"])
def test_a_trusted_proxy_that_is_not_an_address_is_a_configuration_error(proxy: str) -> None:
    from argus.errors import ConfigurationError
    from argus.settings import Settings

    with pytest.raises(ConfigurationError, match="ARGUS_TRUSTED_PROXIES"):
        Settings.from_env({"ARGUS_TRUSTED_PROXIES": f"10.0.0.0/8,{proxy}"})
