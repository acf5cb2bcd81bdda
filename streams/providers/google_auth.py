"""OAuth2 bearer tokens for Google Cloud APIs (``google_v3``).

Either a service account's JSON key: an RS256-signed JWT (``iss`` the account's email, ``scope``
cloud-translation, ``aud`` the key's ``token_uri``, valid one hour) is exchanged at ``token_uri``
for an access token (the JWT bearer grant, RFC 7523). Or a token minted elsewhere (``gcloud auth
print-access-token``, a metadata server, a sidecar), used as is: it cannot be refreshed here.

A minted token is cached until shortly before it expires (clock injected), one exchange at a time
however many calls want a token, and dropped when the API refuses it (401), so the next call mints
a new one. Secrets never reach an error message: the key file's errors name the file and the
field, never a value; HTTP errors are redacted of the assertion; the key's ``repr`` hides it.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from linguaflow.errors import ConfigError, ProviderError
from linguaflow.streams.providers.http import HttpClient, bad_response

SCOPE = "https://www.googleapis.com/auth/cloud-translation"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600  # the longest Google accepts
REFRESH_MARGIN_S = 300  # mint a new token this long before the old one expires


@dataclass(frozen=True)
class ServiceAccountKey:
    client_email: str
    token_uri: str
    project_id: str | None
    private_key_id: str | None
    private_key: rsa.RSAPrivateKey = field(repr=False)


def load_service_account(path: Path) -> ServiceAccountKey:
    """The fields of a service account JSON key file that signing needs; ConfigError if unusable."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the service account key {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError:
        raise ConfigError(f"the service account key {path} is not JSON") from None
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise ConfigError(f"{path} is not a service account key (type must be 'service_account')")
    fields = {name: data.get(name) for name in ("client_email", "token_uri", "private_key")}
    missing = sorted(name for name, value in fields.items() if not isinstance(value, str) or not value)
    if missing:
        raise ConfigError(f"the service account key {path} lacks {', '.join(missing)}")
    try:
        key = serialization.load_pem_private_key(str(fields["private_key"]).encode(), password=None)
    except (ValueError, TypeError):  # their messages say nothing of the key, but stay safe
        raise ConfigError(f"the private_key of {path} is not an unencrypted PEM key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"the private_key of {path} is not an RSA key (RS256 needs one)")
    return ServiceAccountKey(
        client_email=str(fields["client_email"]),
        token_uri=str(fields["token_uri"]),
        project_id=_optional_str(data.get("project_id")),
        private_key_id=_optional_str(data.get("private_key_id")),
        private_key=key,
    )


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_assertion(key: ServiceAccountKey, now_s: float) -> str:
    """The signed JWT a token endpoint exchanges for an access token (pure but for the signing)."""
    header = {"alg": "RS256", "typ": "JWT", **({"kid": key.private_key_id} if key.private_key_id else {})}
    issued = int(now_s)
    claims = {
        "iss": key.client_email,
        "scope": SCOPE,
        "aud": key.token_uri,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_S,
    }
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    signature = key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str = field(repr=False)
    refresh_at_s: float  # mint a new one from then on

    @classmethod
    def issued(cls, value: str, expires_in_s: float, now_s: float) -> AccessToken:
        """Refresh REFRESH_MARGIN_S before expiry (half way through a short-lived token)."""
        return cls(value, now_s + expires_in_s - min(REFRESH_MARGIN_S, expires_in_s / 2))


class TokenSource(Protocol):
    async def token(self) -> str: ...

    def invalidate(self, token: str) -> bool:
        """Forget a token the API refused; True when another one can be had."""
        ...

    async def close(self) -> None: ...


class StaticToken:
    """A token minted elsewhere: used as is; when refused, there is no other."""

    def __init__(self, value: str) -> None:
        self._value = value

    async def token(self) -> str:
        return self._value

    def invalidate(self, token: str) -> bool:
        return False

    async def close(self) -> None:
        return None


class ServiceAccountTokens:
    """Access tokens minted from a service account key, cached until shortly before expiry."""

    def __init__(self, key: ServiceAccountKey, *, timeout_s: float, clock: Callable[[], float] = time.time):
        self._key = key
        self._clock = clock  # epoch seconds: the JWT's iat/exp are checked against Google's clock
        self._http = HttpClient("oauth token", timeout_s, None)
        self._cached: AccessToken | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:  # one exchange at a time: the calls queued behind it reuse its token
            now = self._clock()
            if self._cached is None or now >= self._cached.refresh_at_s:
                self._cached = await self._exchange(now)
            return self._cached.value

    def invalidate(self, token: str) -> bool:
        if self._cached is not None and self._cached.value == token:
            self._cached = None
        return True

    async def close(self) -> None:
        await self._http.close()

    async def _exchange(self, now_s: float) -> AccessToken:
        assertion = jwt_assertion(self._key, now_s)
        try:
            data = await self._http.post_form(
                self._key.token_uri,
                {"grant_type": GRANT_TYPE, "assertion": assertion},
                status_map=_token_status,
                secrets=(assertion,),
            )
        except ProviderError as exc:
            exc.args = (f"access token: {exc}",)
            raise
        value = data.get("access_token") if isinstance(data, dict) else None
        expires_in = data.get("expires_in", ASSERTION_LIFETIME_S) if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise bad_response("oauth token", "no access_token")
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
            raise bad_response("oauth token", "expires_in is not a positive number")
        return AccessToken.issued(value, float(expires_in), now_s)


def _token_status(status: int, body: str) -> ProviderError | None:
    """4xx but 429 from a token endpoint (invalid_grant: a revoked key, a wrong clock, a wrong
    signature; invalid_client) is a credentials problem: retrying the same key will not help."""
    if 400 <= status < 500 and status != 429:
        return ProviderError(f"HTTP {status} refused: {body[:200]}", reason="auth", retriable=False)
    return None
