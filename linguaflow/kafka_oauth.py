"""Tokens for SASL/OAUTHBEARER, as managed Kafka services use it (``KAFKA_SASL_MECHANISM=OAUTHBEARER``).

Two ways to get them, for the worker, the sink, the CLI and the client alike:

- **OIDC client credentials** (``KAFKA_OAUTH_TOKEN_ENDPOINT``, ``_CLIENT_ID``,
  ``_CLIENT_SECRET``, optional ``_SCOPE``): a POST of ``grant_type=client_credentials`` to the
  identity provider's token endpoint, client authenticated with HTTP Basic (RFC 6749 §2.3.1).
  The token is reused until a minute (or a fifth of its lifetime) before it expires; one fetch at
  a time, however many connections wait. A refused client is a non-retriable ``ConfigError``,
  anything else a retriable ``InfraError``; neither names the secret.
- **A hook** (``KAFKA_OAUTH_TOKEN_PROVIDER=module:attribute``): a callable that takes the
  settings and returns an ``aiokafka.abc.AbstractTokenProvider`` (e.g. one signing with a cloud's
  workload identity).

The token fetch uses the standard library only (the client's base install has no HTTP library)
and runs in a thread; it honours ``HTTPS_PROXY`` and ``NO_PROXY``.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from aiokafka.abc import AbstractTokenProvider

from linguaflow.errors import ConfigError, InfraError
from linguaflow.settings import ClientSettings

REFRESH_BEFORE_S = 60.0
DEFAULT_LIFETIME_S = 3600.0  # when the answer has no ``expires_in``


def _refresh_at(now: float, expires_in: float) -> float:
    """When a token valid ``expires_in`` seconds from ``now`` is fetched again."""
    return now + max(0.0, expires_in - min(REFRESH_BEFORE_S, expires_in / 5))


class ClientCredentialsTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    def __init__(
        self,
        endpoint: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        *,
        timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not endpoint.startswith(("https://", "http://")):
            raise ConfigError(f"LINGUAFLOW_KAFKA_OAUTH_TOKEN_ENDPOINT={endpoint!r}: give an http(s):// URL")
        self._endpoint = endpoint
        self._client_id = client_id
        self._secret = client_secret
        self._scope = scope
        self._timeout_s = timeout_s
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                now = self._clock()
                token, expires_in = await asyncio.to_thread(self._fetch)
                self._token, self._refresh_at = token, _refresh_at(now, expires_in)
            return self._token

    def _fetch(self) -> tuple[str, float]:
        fields = {"grant_type": "client_credentials"}
        if self._scope:
            fields["scope"] = self._scope
        basic = base64.b64encode(f"{quote(self._client_id)}:{quote(self._secret)}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self._endpoint,
            data=urlencode(fields).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "Authorization": f"Basic {basic}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace").replace(self._secret, "***")
            if exc.code in (400, 401, 403):
                raise ConfigError(
                    f"the OAuth token endpoint {self._endpoint} refused client {self._client_id!r} "
                    f"(HTTP {exc.code}: {detail}); check LINGUAFLOW_KAFKA_OAUTH_CLIENT_ID, "
                    "LINGUAFLOW_KAFKA_OAUTH_CLIENT_SECRET and LINGUAFLOW_KAFKA_OAUTH_SCOPE",
                ) from None
            raise InfraError(
                f"the OAuth token endpoint answered HTTP {exc.code}: {detail}", retriable=True
            ) from None
        except OSError as exc:
            raise InfraError(
                f"cannot reach the OAuth token endpoint {self._endpoint}: {exc}", retriable=True
            ) from None
        try:
            doc = orjson.loads(body)
            return str(doc["access_token"]), float(doc.get("expires_in") or DEFAULT_LIFETIME_S)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InfraError(
                f"the OAuth token endpoint {self._endpoint} sent no access_token", retriable=True
            ) from None


def token_provider(settings: ClientSettings) -> AbstractTokenProvider:
    """The OAUTHBEARER token provider the settings name: the hook, else client credentials."""
    if settings.kafka_oauth_token_provider:
        return _hook(settings.kafka_oauth_token_provider)(settings)
    endpoint, client_id, secret = (
        settings.kafka_oauth_token_endpoint,
        settings.kafka_oauth_client_id,
        settings.kafka_oauth_client_secret,
    )
    if not endpoint or not client_id or secret is None:
        raise ConfigError(
            "OAUTHBEARER needs LINGUAFLOW_KAFKA_OAUTH_TOKEN_ENDPOINT, LINGUAFLOW_KAFKA_OAUTH_CLIENT_ID "
            "and LINGUAFLOW_KAFKA_OAUTH_CLIENT_SECRET, or LINGUAFLOW_KAFKA_OAUTH_TOKEN_PROVIDER",
        )
    return ClientCredentialsTokenProvider(
        endpoint, client_id, secret.get_secret_value(), settings.kafka_oauth_scope
    )


def _hook(path: str) -> Callable[[ClientSettings], Any]:
    module_name, _, attribute = path.partition(":")
    try:
        hook = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"LINGUAFLOW_KAFKA_OAUTH_TOKEN_PROVIDER={path!r}: cannot load it ({exc}); "
            "give `module:attribute`, importable by the process",
        ) from None
    if not callable(hook):
        raise ConfigError(f"LINGUAFLOW_KAFKA_OAUTH_TOKEN_PROVIDER={path!r} is not callable")
    return hook  # type: ignore[no-any-return]
