"""Google Cloud Translation v3 against its fake, a fake OAuth token endpoint and a fake metadata
server: the translateText request, glossaries, limits, credentials through google-auth (a service
account key's signed JWT verified with the test key's public key; Application Default Credentials
from ``GOOGLE_APPLICATION_CREDENTIALS`` and from the metadata server), tokens reused while valid
and minted again on a 401 once, Google's errors, and no secret in any error or log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from linguaflow.errors import ConfigError, ProviderError
from linguaflow.settings import Settings
from linguaflow.streams.batching import split_to_limits
from linguaflow.streams.providers import TranslationJob, create_provider
from linguaflow.streams.providers.google_auth import google_credentials
from linguaflow.streams.providers.google_v3 import GoogleV3Provider
from testbed.fakes.apis import GOOGLE_V3
from testbed.fakes.metadata import PROJECT, FakeMetadata
from testbed.fakes.oauth import AUDIENCE, CLIENT_EMAIL, SCOPE, FakeOAuth, make_service_account
from testbed.fakes.server import GARBAGE, HANG, UNAUTHENTICATED, WRONG_COUNT, FakeApi, Reply, status
from tests.adapters.conftest import SECRET, jobs


@pytest.fixture
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Application Default Credentials find nothing of this machine's: no key variable, an empty
    gcloud folder, no metadata server."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    return monkeypatch


@dataclass
class V3:
    fake: FakeApi
    oauth: FakeOAuth
    key_file: Path
    pem: str = field(repr=False)

    def settings(self, **extra: Any) -> Settings:
        fields = {"google_v3_credentials_file": self.key_file, "google_v3_base_url": self.fake.url}
        return Settings(provider_timeout_s=1, **(fields | extra))

    def provider(self, **extra: Any) -> GoogleV3Provider:
        provider = create_provider("google_v3", self.settings(**extra))
        assert isinstance(provider, GoogleV3Provider)
        return provider


@pytest.fixture
def v3(tmp_path: Path) -> Iterator[V3]:
    key_file = tmp_path / "service-account.json"
    fake = FakeApi(GOOGLE_V3)
    key = make_service_account(key_file, f"{fake.url}/token")
    fake.oauth = FakeOAuth(key.public_key())
    fake.start()
    try:
        yield V3(fake, fake.oauth, key_file, orjson.loads(key_file.read_bytes())["private_key"])
    finally:
        fake.stop()


async def test_the_request_is_v3_translate_text_with_a_token_minted_from_the_key(v3: V3) -> None:
    provider = v3.provider()
    out = await provider.translate(jobs('Hi <x id="0"/>', "Bye"))
    await provider.translate(jobs("again"))
    await provider.close()
    assert v3.fake.requests[0] == {
        "contents": ['Hi <x id="0"/>', "Bye"],
        "targetLanguageCode": "de",
        "sourceLanguageCode": "en",
        "mimeType": "text/html",
    }
    assert v3.fake.headers[0]["Authorization"] == f"Bearer {v3.oauth.issued[0]}"
    [claims] = v3.oauth.claims  # one token for both calls; its JWT verified with the public key
    assert (claims["iss"], claims["scope"], claims["aud"]) == (CLIENT_EMAIL, SCOPE, AUDIENCE)
    assert claims["exp"] - claims["iat"] == 3600
    assert [t.text for t in out] == ['[de] Hi <x id="0"/>', "[de] Bye"]
    assert {(t.provider, t.model) for t in out} == {("google_v3", "google/v3")}
    assert out[1].cost == pytest.approx(3 * 20 / 1e6)


async def test_auto_source_is_left_out_for_google_to_detect(v3: V3) -> None:
    provider = v3.provider()
    await provider.translate([TranslationJob("k", "Hallo", "auto", "fr")])
    await provider.close()
    assert "sourceLanguageCode" not in v3.fake.requests[0]


async def test_a_glossary_and_a_model_are_resources_and_glossary_translations_are_used(v3: V3) -> None:
    provider = v3.provider(google_v3_model="general/nmt")
    out = await provider.translate(jobs("Save", "Cancel", glossary="ui@3"))
    with pytest.raises(ProviderError, match="glossary needs a source language") as caught:
        await provider.translate([TranslationJob("k", "Save", "auto", "de", glossary="ui@3")])
    await provider.close()
    body = v3.fake.requests[0]
    assert body["glossaryConfig"] == {"glossary": "projects/test-project/locations/global/glossaries/ui"}
    assert body["model"] == "projects/test-project/locations/global/models/general/nmt"
    assert [t.text for t in out] == ["[de] Save (glossary)", "[de] Cancel (glossary)"]
    assert out[0].model == provider.model_version == "google/v3/general/nmt"
    assert (caught.value.reason, caught.value.retriable, v3.fake.calls) == ("rejected", False, 1)


async def test_batches_honour_1024_segments_and_30000_code_points(v3: V3) -> None:
    provider = v3.provider()
    assert (provider.limits.max_texts, provider.limits.max_chars) == (1024, 30_000)
    many = jobs(*[f"t{i}" for i in range(1500)])
    assert [len(b) for b in split_to_limits(many, provider.limits)] == [1024, 476]
    long = jobs(*["é" * 10_000] * 4)
    assert [len(b) for b in split_to_limits(long, provider.limits)] == [3, 1]
    out = await provider.translate(split_to_limits(many, provider.limits)[0])
    await provider.close()
    assert len(out) == len(v3.fake.requests[0]["contents"]) == 1024


async def test_a_token_is_reused_while_valid_and_minted_again_ahead_of_expiry(v3: V3) -> None:
    provider = v3.provider()
    try:
        await asyncio.gather(*(provider.translate(jobs(f"t{i}")) for i in range(5)))  # cold: one exchange
        await provider.translate(jobs("still fresh"))
        assert v3.oauth.exchanges == 1
    finally:
        await provider.close()
    v3.oauth.lifetime_s = 120  # inside google-auth's refresh margin (minutes): never reused
    provider = v3.provider()
    try:
        await provider.translate(jobs("one"))
        await provider.translate(jobs("two"))
    finally:
        await provider.close()
    assert v3.oauth.exchanges == 3
    assert v3.fake.headers[-1]["Authorization"] == f"Bearer {v3.oauth.issued[2]}"
    assert {c["scope"] for c in v3.oauth.claims} == {SCOPE}


async def test_application_default_credentials_come_from_the_key_variable(
    v3: V3, no_ambient_credentials: pytest.MonkeyPatch
) -> None:
    no_ambient_credentials.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(v3.key_file))
    provider = create_provider("google_v3", Settings(provider_timeout_s=1, google_v3_base_url=v3.fake.url))
    try:
        [out] = await provider.translate(jobs("from ADC"))
    finally:
        await provider.close()
    assert out.text == "[de] from ADC"
    assert v3.oauth.exchanges == 1
    assert "/projects/test-project/" in v3.fake.paths[-1]  # the key's project_id


async def test_application_default_credentials_come_from_the_metadata_server(
    v3: V3, no_ambient_credentials: pytest.MonkeyPatch
) -> None:
    with FakeMetadata(v3.oauth.mint) as metadata:
        no_ambient_credentials.delenv("NO_GCE_CHECK")
        no_ambient_credentials.setenv("GCE_METADATA_HOST", metadata.host)
        no_ambient_credentials.setenv("GCE_METADATA_IP", metadata.host)
        provider = create_provider(
            "google_v3", Settings(provider_timeout_s=1, google_v3_base_url=v3.fake.url)
        )
        try:
            [out] = await provider.translate(jobs("on GKE"))
        finally:
            await provider.close()
    assert out.text == "[de] on GKE"
    assert v3.oauth.exchanges == 0  # no key: the metadata server gave the token
    assert any(path.split("?")[0].endswith("/default/token") for path in metadata.paths)
    assert "/computeMetadata/v1/project/project-id" in metadata.paths  # the project came from there
    assert f"/projects/{PROJECT}/" in v3.fake.paths[-1]


async def test_a_401_mints_a_new_token_and_asks_once_more(v3: V3) -> None:
    provider = v3.provider()
    await provider.translate(jobs("one"))
    v3.oauth.expire_all()  # revoked server-side: the cached token is refused
    [out] = await provider.translate(jobs("two"))
    await provider.close()
    assert out.text == "[de] two"
    assert (v3.oauth.exchanges, v3.fake.calls) == (2, 3)


async def test_a_second_401_is_a_final_auth_error(v3: V3) -> None:
    v3.fake.then(UNAUTHENTICATED, UNAUTHENTICATED)
    error = await failure(v3, v3.provider())
    assert (error.reason, error.retriable) == ("auth", False)
    assert (v3.oauth.exchanges, v3.fake.calls) == (2, 2)


async def test_a_refused_token_minted_elsewhere_is_final_at_once(v3: V3) -> None:
    settings = Settings(
        google_v3_access_token=SECRET, google_v3_base_url=v3.fake.url, google_v3_project="test-project"
    )
    error = await failure(v3, create_provider("google_v3", settings))
    assert (error.reason, error.retriable, v3.fake.calls) == ("auth", False, 1)


async def failure(v3: V3, provider: Any, reply: Reply | None = None) -> ProviderError:
    if reply is not None:
        v3.fake.then(reply)
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.translate(jobs("Hello", "World"))
    finally:
        await provider.close()
    return caught.value


@pytest.mark.parametrize(
    ("reply", "reason", "retriable"),
    [
        (status(429, "Quota exceeded for quota metric per minute", retry_after="3"), "rate_limited", True),
        (status(403, "Rate limit exceeded"), "rate_limited", True),
        (
            status(403, "Quota exceeded for quota metric 'v3 general model characters' per day"),
            "quota_exceeded",
            False,
        ),
        (status(403, "Cloud Translation API has not been used in project test-project"), "auth", False),
        (status(400, "Target language is invalid."), "rejected", False),
        (status(500, "Internal error encountered."), "unavailable", True),
        (status(503, "The service is currently unavailable."), "unavailable", True),
        (HANG, "timeout", True),
        (GARBAGE, "bad_response", True),
        (WRONG_COUNT, "bad_response", True),
    ],
    ids=["429", "403-rate", "403-quota", "403-disabled", "400", "500", "503", "hang", "garbage", "count"],
)
async def test_googles_errors(v3: V3, reply: Reply, reason: str, retriable: bool) -> None:
    error = await failure(v3, v3.provider(), reply)
    assert (error.reason, error.retriable) == (reason, retriable)
    assert error.retry_after_s == (3 if reply.retry_after else None)


async def test_token_endpoint_failures(v3: V3, tmp_path: Path) -> None:
    v3.oauth.fail_next(503)  # google-auth tries again (within the call) and gets a token
    provider = v3.provider()
    [out] = await provider.translate(jobs("after one 503"))
    await provider.close()
    assert (out.text, v3.oauth.exchanges) == ("[de] after one 503", 1)
    v3.oauth.fail_next(503, 503, 503)  # every attempt fails: retriable, for the provider's retries
    error = await failure(v3, create_provider("google_v3", v3.settings()))
    assert (error.reason, error.retriable) == ("unavailable", True)
    assert str(error).startswith("access token: ")
    other = tmp_path / "other.json"
    make_service_account(other, f"{v3.fake.url}/token")  # a key the endpoint does not know
    error = await failure(v3, create_provider("google_v3", v3.settings(google_v3_credentials_file=other)))
    assert (error.reason, error.retriable) == ("auth", False)
    assert "invalid_grant" in str(error)
    assert v3.fake.calls == 1  # only the first provider's call: no token, no API call


async def test_no_secret_in_errors_logs_or_reprs(v3: V3, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider = v3.provider()
    await provider.translate(jobs("warm up"))  # token 1 is cached now
    echoed = f"token {v3.oauth.issued[0]} is not valid for this project"
    errors = [
        await failure(v3, provider, status(400, echoed)),
        await failure(v3, provider, status(500, echoed)),
    ]
    key_line = v3.pem.splitlines()[1]  # a line of the private key's base64
    seen = (
        " ".join(str(e) + repr(e.args) for e in errors)
        + caplog.text
        + repr(provider)
        + repr(google_credentials(v3.key_file, 1)[0])
    )
    assert "***" in str(errors[0])
    for secret in (v3.oauth.issued[0], key_line, "PRIVATE KEY"):
        assert secret not in seen
    assert SECRET not in str(Settings(google_v3_access_token=SECRET).safe_dict())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not json", "is not JSON"),
        (b'{"type": "weird"}', "is of type 'weird'"),
        (b'{"type": "service_account", "client_email": "a@b"}', "missing fields token_uri"),
    ],
)
def test_unusable_credentials_files_are_config_errors(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "key.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=problem) as caught:
        create_provider("google_v3", Settings(google_v3_credentials_file=path))
    assert str(path) in str(caught.value)


def test_a_broken_private_key_is_refused_without_quoting_it(v3: V3) -> None:
    data = orjson.loads(v3.key_file.read_bytes())
    data["private_key"] = data["private_key"].replace("A", "B", 40)[:-200]
    v3.key_file.write_bytes(orjson.dumps(data))
    with pytest.raises(ConfigError) as caught:
        create_provider("google_v3", v3.settings())
    assert "cannot use the credentials file" in str(caught.value)
    assert all(line not in str(caught.value) for line in data["private_key"].splitlines()[1:3])


def test_credentials_and_a_project_are_required(
    v3: V3, tmp_path: Path, no_ambient_credentials: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        create_provider("google_v3", Settings())  # no file, no token, nothing found by ADC
    with pytest.raises(ConfigError, match="GOOGLE_V3_PROJECT"):
        create_provider("google_v3", Settings(google_v3_access_token=SECRET))
    keyless = tmp_path / "no-project.json"
    make_service_account(keyless, "http://127.0.0.1:1/token", project=None)
    with pytest.raises(ConfigError, match="GOOGLE_V3_PROJECT"):
        create_provider("google_v3", Settings(google_v3_credentials_file=keyless))
