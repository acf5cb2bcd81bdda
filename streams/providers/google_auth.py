"""OAuth2 bearer tokens for Google Cloud APIs (``google_v3``), through google-auth.

Credentials are found as Google's own client libraries find them:

- ``GOOGLE_V3_CREDENTIALS_FILE``: any credentials file google-auth reads (a service account key,
  gcloud's authorized user, an external account for workload identity federation, an
  impersonated service account);
- else Application Default Credentials, in google-auth's order: ``GOOGLE_APPLICATION_CREDENTIALS``,
  gcloud's ``application-default login``, then the metadata server (GKE workload identity,
  Compute Engine, Cloud Run);
- ``GOOGLE_V3_ACCESS_TOKEN`` instead: a token minted elsewhere, used as is (never refreshed).

google-auth's transport blocks, so a refresh (a signed JWT exchanged at the key's ``token_uri``, a
metadata server call, ...) runs in a thread, one at a time however many calls want a token, with
the provider's timeout; its ``requests`` session honours ``HTTPS_PROXY`` and ``NO_PROXY``. A token
is reused while google-auth deems it valid (it refreshes a few minutes ahead of expiry) and
dropped when the API refuses it (401), so the next call gets a new one. Errors never quote a
secret: a file that cannot be used is named with google-auth's reason, which names fields, never
their values.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

import google.auth
import google.auth.transport.requests
import orjson
from google.auth import exceptions
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from linguaflow.errors import ConfigError, ProviderError

SCOPE = "https://www.googleapis.com/auth/cloud-translation"


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

    def __repr__(self) -> str:
        return "StaticToken(***)"

    async def token(self) -> str:
        return self._value

    def invalidate(self, token: str) -> bool:
        return False

    async def close(self) -> None:
        return None


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with a timeout on every call (its default is 120 s)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout_s)
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]


class GoogleCredentialsTokens:
    """Access tokens of google-auth credentials, refreshed in a thread when they are not valid."""

    def __init__(self, credentials: Any, *, timeout_s: float) -> None:
        self._credentials = credentials
        self._request = _TimedRequest(timeout_s)
        self._refused: str | None = None  # a token the API refused: refresh even if "valid"
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"GoogleCredentialsTokens({type(self._credentials).__name__})"

    async def token(self) -> str:
        async with self._lock:
            credentials = self._credentials
            if not credentials.valid or credentials.token == self._refused:
                await asyncio.to_thread(self._refresh)
            return str(credentials.token)

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._request)
        except exceptions.RefreshError as exc:
            retriable = bool(getattr(exc, "retryable", False))
            raise ProviderError(
                f"access token: {exc.args[0] if exc.args else type(exc).__name__}",
                reason="unavailable" if retriable else "auth",
                retriable=retriable,
            ) from None
        except exceptions.TransportError as exc:
            raise ProviderError(
                f"access token: cannot reach the token endpoint: {exc}", reason="connection", retriable=True
            ) from None

    def invalidate(self, token: str) -> bool:
        if token == self._credentials.token:
            self._refused = token
        return True

    async def close(self) -> None:
        self._request.session.close()


def google_credentials(path: Path | None, timeout_s: float) -> tuple[GoogleCredentialsTokens, str | None]:
    """Tokens from the credentials file ``path`` or, without one, from Application Default
    Credentials; and the project they name, if any."""
    try:
        if path is not None:
            credentials, project = _from_file(path)
        else:
            credentials, project = google.auth.default(scopes=[SCOPE])
    except exceptions.DefaultCredentialsError as exc:
        raise ConfigError(
            f"provider 'google_v3' cannot use Application Default Credentials: {_reason(exc)}. Set "
            "LINGUAFLOW_GOOGLE_V3_CREDENTIALS_FILE or GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth "
            "application-default login`, run on Google Cloud with a service account, or set "
            "LINGUAFLOW_GOOGLE_V3_ACCESS_TOKEN"
        ) from None
    return GoogleCredentialsTokens(credentials, timeout_s=timeout_s), project


def _from_file(path: Path) -> tuple[Any, str | None]:
    """A service account key or gcloud's authorized-user file (other kinds, e.g. workload identity
    federation's ``external_account``, go through ``GOOGLE_APPLICATION_CREDENTIALS``)."""
    try:
        info = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the Google credentials file {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError:
        raise ConfigError(f"the Google credentials file {path} is not JSON") from None
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[SCOPE]
            )
            return credentials, info.get("project_id")
        if kind == "authorized_user":
            credentials = user_credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                info, scopes=[SCOPE]
            )
            return credentials, info.get("quota_project_id")
    except (ValueError, exceptions.GoogleAuthError) as exc:
        raise ConfigError(
            f"provider 'google_v3' cannot use the credentials file {path}: {_reason(exc)}"
        ) from None
    raise ConfigError(
        f"the Google credentials file {path} is of type {kind!r}: LINGUAFLOW_GOOGLE_V3_CREDENTIALS_FILE "
        "takes a service account key or gcloud's authorized user; give other kinds (e.g. "
        "external_account) through GOOGLE_APPLICATION_CREDENTIALS"
    )


def _reason(exc: BaseException) -> str:
    """google-auth's own words and their cause's (they name files and fields, not values), the
    first line of each."""
    words: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(words) < 2:
        text = str(cause.args[0]) if cause.args else ""
        words.append(text.splitlines()[0][:300] if text.strip() else type(cause).__name__)
        cause = cause.__cause__
    return ": ".join(words)
