"""A fake of Google's OAuth2 token endpoint for service accounts (the JWT bearer grant), served at
``/token`` by a ``FakeApi`` whose requests it then authorises.

It checks what Google checks: the grant type, the assertion's RS256 signature against the service
account's public key, ``iss``, ``aud`` (Google's token endpoint, whatever URL the assertion is
posted to), the cloud-translation scope and
the validity window (at most one hour). Accepted assertions get an opaque bearer token
(``ya29.fake-token-N``) that the fake API accepts until ``expire_all``; refused ones get Google's
``400 {"error": "invalid_grant", ...}``. Tests build the key pair (``make_service_account``).
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-translation"
CLIENT_EMAIL = "linguaflow@test-project.iam.gserviceaccount.com"
CLOCK_SKEW_S = 60
AUDIENCE = "https://oauth2.googleapis.com/token"  # what Google checks a grant's ``aud`` against


def make_service_account(
    path: Path, token_uri: str, *, project: str | None = "test-project"
) -> rsa.RSAPrivateKey:
    """Write a service account JSON key file with a new RSA key; return the key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    data = {
        "type": "service_account",
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
        **({"project_id": project} if project else {}),
    }
    path.write_bytes(orjson.dumps(data))
    return key


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeOAuth:
    path = "/token"

    def __init__(
        self, public_key: rsa.RSAPublicKey, *, lifetime_s: int = 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self.public_key = public_key
        self.clock = clock  # Google's clock: what iat and exp are checked against
        self.lifetime_s = lifetime_s
        self.claims: list[dict[str, Any]] = []  # of every accepted assertion
        self.issued: list[str] = []
        self.refused: list[str] = []  # why, per refused exchange
        self.script: deque[int] = deque()  # HTTP statuses to answer next exchanges with
        self._valid: set[str] = set()
        self._lock = threading.Lock()

    @property
    def exchanges(self) -> int:
        return len(self.issued)

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self.script.extend(statuses)

    def mint(self) -> str:
        """A token the API accepts, issued without an exchange (as a metadata server issues them)."""
        with self._lock:
            token = f"ya29.fake-metadata-token-{len(self._valid) + 1}"
            self._valid.add(token)
        return token

    def expire_all(self) -> None:
        """Every token issued so far is now refused by the API (401), as after a revocation."""
        with self._lock:
            self._valid.clear()

    def authorized(self, headers: Mapping[str, str]) -> bool:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        with self._lock:
            return scheme == "Bearer" and token in self._valid

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        with self._lock:
            scripted = self.script.popleft() if self.script else None
        if scripted is not None:
            return web.json_response({"error": "internal_failure"}, status=scripted)
        if form.get("grant_type") != GRANT_TYPE:
            return self._refuse("unsupported_grant_type", "Invalid grant_type")
        try:
            claims = self._verify(str(form.get("assertion", "")))
        except (ValueError, InvalidSignature) as exc:
            return self._refuse("invalid_grant", str(exc) or "Invalid JWT Signature.")
        with self._lock:
            token = f"ya29.fake-token-{len(self.issued) + 1}"
            self.issued.append(token)
            self._valid.add(token)
            self.claims.append(claims)
        return web.json_response(
            {"access_token": token, "expires_in": self.lifetime_s, "token_type": "Bearer"}
        )

    def _refuse(self, error: str, description: str) -> web.Response:
        with self._lock:
            self.refused.append(f"{error}: {description}")
        return web.json_response({"error": error, "error_description": description}, status=400)

    def _verify(self, assertion: str) -> dict[str, Any]:
        header_b64, claims_b64, signature_b64 = assertion.split(".")  # ValueError unless 3 parts
        header = orjson.loads(_unb64(header_b64))
        if header.get("alg") != "RS256":
            raise ValueError(f"alg {header.get('alg')!r} is not RS256")
        signed = f"{header_b64}.{claims_b64}".encode()
        self.public_key.verify(_unb64(signature_b64), signed, padding.PKCS1v15(), hashes.SHA256())
        claims: dict[str, Any] = orjson.loads(_unb64(claims_b64))
        now = self.clock()
        problems = [
            claims.get("iss") != CLIENT_EMAIL and "iss",
            claims.get("aud") != AUDIENCE and "aud",
            SCOPE not in str(claims.get("scope", "")).split() and "scope",
            not claims.get("iat", now + 1e9) <= now + CLOCK_SKEW_S and "iat in the future",
            not claims.get("exp", 0) > now - CLOCK_SKEW_S and "expired",
            claims.get("exp", 0) - claims.get("iat", 0) > 3600 and "valid for more than an hour",
        ]
        wrong = [p for p in problems if p]
        if wrong:
            raise ValueError(f"Invalid JWT: {', '.join(wrong)}")
        return claims
