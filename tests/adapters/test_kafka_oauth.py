"""OAUTHBEARER tokens from an OIDC token endpoint (a fake on 127.0.0.1): the client credentials
grant, a token reused until shortly before it expires, refusals as one-line errors without the
secret, and the hook that replaces the grant."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from linguaflow.errors import ConfigError, InfraError
from linguaflow.kafka import client_config
from linguaflow.kafka_oauth import ClientCredentialsTokenProvider, token_provider
from linguaflow.settings import ClientSettings
from testbed.fakes.oidc import FakeOidc

CLIENT, SECRET = "linguaflow-worker", "oidc-s3cret-9f2"


@pytest.fixture
def oidc() -> Iterator[FakeOidc]:
    with FakeOidc(CLIENT, SECRET, lifetime_s=600) as fake:
        yield fake


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_token_is_fetched_once_and_reused_until_shortly_before_it_expires(oidc: FakeOidc) -> None:
    clock = Clock()
    provider = ClientCredentialsTokenProvider(oidc.url, CLIENT, SECRET, "kafka", clock=clock)
    first = await asyncio.gather(*(provider.token() for _ in range(5)))
    assert first == [oidc.issued[0]] * 5  # one fetch for five connections
    assert oidc.scopes == ["kafka"]
    clock.now += 600 - 61  # a minute before it expires: still the same
    assert await provider.token() == oidc.issued[0]
    clock.now += 2
    assert await provider.token() == oidc.issued[1]
    assert len(oidc.issued) == 2


async def test_a_refused_client_is_a_config_error_that_never_shows_the_secret(oidc: FakeOidc) -> None:
    provider = ClientCredentialsTokenProvider(oidc.url, CLIENT, "wrong-secret-77")
    with pytest.raises(ConfigError, match="refused client 'linguaflow-worker'") as info:
        await provider.token()
    assert "wrong-secret-77" not in str(info.value)
    assert "KAFKA_OAUTH_CLIENT_SECRET" in str(info.value)


async def test_an_unreachable_endpoint_is_a_retriable_infra_error(oidc: FakeOidc) -> None:
    url = oidc.url
    oidc.server.shutdown()
    oidc.server.server_close()
    with pytest.raises(InfraError, match="cannot reach the OAuth token endpoint") as info:
        await ClientCredentialsTokenProvider(url, CLIENT, SECRET).token()
    assert info.value.retriable


def oauth_settings(**fields: Any) -> ClientSettings:
    return ClientSettings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="OAUTHBEARER", **fields)


def test_oauthbearer_needs_the_grant_or_a_hook() -> None:
    with pytest.raises(ConfigError, match="LINGUAFLOW_KAFKA_OAUTH_TOKEN_ENDPOINT"):
        client_config(oauth_settings())
    config = client_config(
        oauth_settings(
            kafka_oauth_token_endpoint="https://idp.example/token",
            kafka_oauth_client_id=CLIENT,
            kafka_oauth_client_secret=SecretStr(SECRET),
        )
    )
    assert config["sasl_mechanism"] == "OAUTHBEARER"
    assert isinstance(config["sasl_oauth_token_provider"], ClientCredentialsTokenProvider)
    with pytest.raises(ConfigError, match="http"):
        token_provider(
            oauth_settings(
                kafka_oauth_token_endpoint="file:///etc/passwd",
                kafka_oauth_client_id=CLIENT,
                kafka_oauth_client_secret=SecretStr(SECRET),
            )
        )


class StaticTokens(ClientCredentialsTokenProvider):
    async def token(self) -> str:
        return "a-token"


def static_tokens(settings: ClientSettings) -> StaticTokens:
    return StaticTokens("https://unused.example/token", "id", "secret")


def test_a_hook_replaces_the_grant_and_a_bad_one_is_named() -> None:
    hooked = token_provider(oauth_settings(kafka_oauth_token_provider=f"{__name__}:static_tokens"))
    assert isinstance(hooked, StaticTokens)
    with pytest.raises(ConfigError, match="LINGUAFLOW_KAFKA_OAUTH_TOKEN_PROVIDER='nowhere:x'"):
        token_provider(oauth_settings(kafka_oauth_token_provider="nowhere:x"))
