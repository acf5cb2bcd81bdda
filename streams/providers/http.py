"""The small HTTP adapter every real provider uses: one aiohttp session (created on first use, in
the running loop) that honours ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY``, a total timeout
per request, JSON in and out, and HTTP failures turned into ProviderErrors with ``retriable`` and
``retry_after_s`` set. API keys never reach an error message: every message is redacted of the
secret (and of a call's own ``secrets``, e.g. an OAuth token) before it is raised."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from linguaflow.errors import ProviderError

MAX_BODY_IN_ERROR = 300
# A provider may map a status + body to its own error (e.g. DeepL 456 = quota exceeded).
StatusMap = Callable[[int, str], ProviderError | None]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (pure but for ``now``)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def status_error(status: int, body: str, retry_after_s: float | None) -> ProviderError:
    """The default meaning of an HTTP failure."""
    snippet = body[:MAX_BODY_IN_ERROR]
    if status == 429:
        return ProviderError(
            f"HTTP 429 too many requests: {snippet}",
            reason="rate_limited",
            retriable=True,
            retry_after_s=retry_after_s,
        )
    if status in (401, 403):
        return ProviderError(f"HTTP {status} not authorised: {snippet}", reason="auth", retriable=False)
    if status >= 500:
        return ProviderError(
            f"HTTP {status}: {snippet}", reason="unavailable", retriable=True, retry_after_s=retry_after_s
        )
    return ProviderError(f"HTTP {status}: {snippet}", reason="rejected", retriable=False)


class HttpClient:
    def __init__(self, name: str, timeout_s: float, secret: str | None) -> None:
        self._name = name
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._secret = secret
        self._session: aiohttp.ClientSession | None = None

    def _redact(self, text: str, secrets: Sequence[str]) -> str:
        for secret in (self._secret, *secrets):
            if secret:
                text = text.replace(secret, "***")
        return text

    async def post_json(
        self,
        url: str,
        body: Mapping[str, Any],
        *,
        headers: Mapping[str, str],
        status_map: StatusMap | None = None,
        secrets: Sequence[str] = (),
    ) -> Any:
        """POST ``body`` as JSON; the parsed JSON answer, or ProviderError."""
        headers = {"Content-Type": "application/json", **headers}
        return await self._post(url, orjson.dumps(body), headers, status_map, secrets)

    async def post_form(
        self,
        url: str,
        fields: Mapping[str, str],
        *,
        status_map: StatusMap | None = None,
        secrets: Sequence[str],
    ) -> Any:
        """POST ``fields`` form-encoded (OAuth token endpoints); the parsed JSON answer."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self._post(url, urlencode(fields).encode(), headers, status_map, secrets)

    async def _post(
        self,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        status_map: StatusMap | None,
        secrets: Sequence[str],
    ) -> Any:
        if self._session is None:
            # trust_env: HTTPS_PROXY / HTTP_PROXY (credentials in the URL) and NO_PROXY
            self._session = aiohttp.ClientSession(timeout=self._timeout, trust_env=True)
        try:
            async with self._session.post(url, data=data, headers=headers) as response:
                raw = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except TimeoutError:
            raise ProviderError(
                f"{self._name}: no answer within {self._timeout.total:g}s", reason="timeout", retriable=True
            ) from None
        except aiohttp.ClientError as exc:
            message = self._redact(f"{self._name}: {type(exc).__name__}: {exc}", secrets)
            raise ProviderError(message, reason="connection", retriable=True) from None
        text = raw.decode("utf-8", "replace")
        if status >= 400:
            error = (status_map and status_map(status, text)) or status_error(
                status, text, parse_retry_after(retry_after)
            )
            error.args = (self._redact(str(error), secrets),)
            raise error
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProviderError(
                self._redact(f"{self._name}: not JSON: {text[:MAX_BODY_IN_ERROR]!r}", secrets),
                reason="bad_response",
                retriable=True,
            ) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def bad_response(name: str, problem: str) -> ProviderError:
    return ProviderError(f"{name}: unexpected response: {problem}", reason="bad_response", retriable=True)


def strings(value: Any, count: int, name: str) -> list[str]:
    """Exactly ``count`` strings, or a retriable bad_response."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_response(name, "translations are not a list of strings")
    if len(value) != count:
        raise bad_response(name, f"asked for {count} translations, got {len(value)}")
    return value


def item_strings(data: Any, field: str, key: str, count: int, name: str) -> list[str]:
    """``data[field]`` must be a list of objects: their ``key`` strings, exactly ``count`` of them."""
    items = data.get(field) if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise bad_response(name, f"no {field!r} list")
    return strings([i.get(key) for i in items], count, name)
