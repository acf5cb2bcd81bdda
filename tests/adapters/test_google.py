"""Google Cloud Translation v2 against its fake: request format, key header, 403 quota."""

from __future__ import annotations

import pytest

from linguaflow.errors import ProviderError
from linguaflow.streams.providers.base import TranslationJob
from linguaflow.streams.providers.google import forbidden
from testbed.fakes.apis import GOOGLE
from testbed.fakes.server import status
from tests.adapters.conftest import SECRET, jobs, make, running


async def test_the_request_is_googles_v2_format_with_the_key_in_a_header() -> None:
    with running(GOOGLE) as fake:
        provider = make("google", fake)
        await provider.translate(jobs('Hi <x id="0"/>', "Bye"))
        await provider.translate([TranslationJob("k", "x", "auto", "fr")])
        await provider.close()
    assert fake.headers[0]["X-Goog-Api-Key"] == SECRET
    assert fake.requests[0] == {
        "q": ['Hi <x id="0"/>', "Bye"],
        "target": "de",
        "source": "en",
        "format": "html",
    }
    assert fake.requests[1] == {"q": ["x"], "target": "fr", "format": "html"}  # auto: no source
    assert all(SECRET not in str(body) for body in fake.requests)  # not in the body, not in a URL


async def test_403_daily_limit_is_quota_exceeded_and_rate_limit_is_retriable() -> None:
    with running(GOOGLE) as fake:
        fake.then(status(403, "Daily Limit Exceeded"))
        provider = make("google", fake)
        with pytest.raises(ProviderError) as caught:
            await provider.translate(jobs("Hello"))
        await provider.close()
    assert (caught.value.reason, caught.value.retriable) == ("quota_exceeded", False)


def test_a_403_rate_limit_body_is_retriable() -> None:
    error = forbidden(403, '{"error": {"errors": [{"reason": "userRateLimitExceeded"}]}}')
    assert error is not None
    assert (error.reason, error.retriable) == ("rate_limited", True)
    other = forbidden(403, '{"error": {"message": "API key not valid"}}')
    assert other is not None
    assert (other.reason, other.retriable) == ("auth", False)
