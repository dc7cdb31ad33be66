"""A test token issuer: RSA, EC P-256 and Ed25519 keys published as a ``file://`` JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from argus.settings import Settings

ISSUER = "https://clerk.example.test"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "jwks.json"
        self.url = self.path.as_uri()
        self.private: dict[str, Any] = {
            "rsa1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec1": ec.generate_private_key(ec.SECP256R1()),
            "ed1": ed25519.Ed25519PrivateKey.generate(),
        }
        self.publish()

    def publish(self) -> None:
        keys = []
        for kid, key in self.private.items():
            jwk = self.to_jwk(key)
            jwk["kid"] = kid
            keys.append(jwk)
        self.path.write_text(json.dumps({"keys": keys}))

    @staticmethod
    def to_jwk(key: Any) -> dict[str, Any]:
        public = key.public_key()
        if isinstance(key, rsa.RSAPrivateKey):
            return dict(RSAAlgorithm.to_jwk(public, as_dict=True))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return dict(ECAlgorithm.to_jwk(public, as_dict=True))
        return dict(OKPAlgorithm.to_jwk(public, as_dict=True))

    @staticmethod
    def alg(kid: str) -> str:
        return {"ec1": "ES256", "ed1": "EdDSA"}.get(kid, "RS256")

    def claims(self, **claims: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {"iss": ISSUER, "sub": f"user_{uuid.uuid4().hex[:12]}",
                                "iat": now, "exp": now + 300}
        base.update(claims)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, kid: str = "rsa1", key: Any = None, **claims: Any) -> str:
        signer = key if key is not None else self.private[kid]
        return jwt.encode(self.claims(**claims), signer, algorithm=self.alg(kid),
                          headers={"kid": kid})

    def hs256_with_public_key(self, kid: str = "rsa1", **claims: Any) -> str:
        """The classic confusion attack: HMAC keyed with the PEM of the public key."""
        pem = self.private[kid].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        payload = b64(json.dumps(self.claims(**claims)).encode())
        signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64(signature)}"

    def unsigned(self, kid: str = "rsa1", **claims: Any) -> str:
        header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        payload = b64(json.dumps(self.claims(**claims)).encode())
        return f"{header}.{payload}."

    def settings(self, redis_url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"redis_url": redis_url, "jwks_url": self.url,
                                  "jwt_issuer": ISSUER, "universe_refresh": 3_600.0}
        values.update(overrides)
        return Settings.from_env({}, **values)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
