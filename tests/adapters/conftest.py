"""Provider adapters against the fake API servers (127.0.0.1, ephemeral ports; no broker)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from linguaflow.settings import Settings
from linguaflow.streams.providers import Provider, TranslationJob, create_provider
from testbed.fakes.apis import DEEPL, GOOGLE, GOOGLE_V3, GOOGLE_V3_PROJECT, LIBRE, OPENAI, ApiSpec
from testbed.fakes.server import FakeApi

SECRET = "sk-test-SECRET-7f3a:fx"
SPECS = {"deepl": DEEPL, "google": GOOGLE, "google_v3": GOOGLE_V3, "libre": LIBRE, "openai": OPENAI}


def provider_settings(name: str, url: str, **extra: Any) -> Settings:
    """Settings that point provider ``name`` at ``url`` with the test secret."""
    fields: dict[str, Any] = {
        "deepl": {"deepl_api_key": SECRET, "deepl_base_url": url},
        "google": {"google_api_key": SECRET, "google_base_url": url},
        "google_v3": {  # a token minted elsewhere; test_google_v3.py covers service accounts
            "google_v3_access_token": SECRET,
            "google_v3_base_url": url,
            "google_v3_project": GOOGLE_V3_PROJECT,
        },
        "libre": {"libre_api_key": SECRET, "libre_url": url},
        "openai": {"openai_api_key": SECRET, "openai_base_url": url},
    }[name]
    return Settings(provider_timeout_s=1, **fields, **extra)


def jobs(*texts: str, **fields: Any) -> list[TranslationJob]:
    return [TranslationJob(f"k{i}", text, "en", "de", **fields) for i, text in enumerate(texts)]


@pytest.fixture(params=sorted(SPECS))
def api(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeApi]]:
    """Each provider with its fake server, in turn."""
    name: str = request.param
    with running(SPECS[name]) as fake:
        yield name, fake


@contextmanager
def running(spec: ApiSpec) -> Iterator[FakeApi]:
    fake = FakeApi(spec).start()
    try:
        yield fake
    finally:
        fake.stop()


def make(name: str, fake: FakeApi, **extra: Any) -> Provider:
    return create_provider(name, provider_settings(name, fake.url, **extra))
