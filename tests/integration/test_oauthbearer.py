"""The pipeline on a broker that only speaks SASL/OAUTHBEARER, as managed Kafka services do: the
worker, the sink and ``produce`` get their tokens from an OIDC token endpoint (client
credentials; a fake on 127.0.0.1) and the broker validates them with its default validator, which
accepts the unsigned tokens that fake issues. Signature checks are the identity provider's and the
broker's business; what is tested here is the client side, against the real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from linguaflow.errors import LinguaflowError
from linguaflow.kafka import ensure_topics
from testbed.fakes.oidc import FakeOidc
from testbed.services import Stack
from tests.integration.secured import run_pipeline, secured_stack

pytestmark = pytest.mark.integration

CLIENT, SECRET = "linguaflow", "oidc-s3cret-44"
BROKER_LOGIN = (  # the broker's own (inter-broker) login: an unsecured token for "admin"
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
    'unsecuredLoginStringClaim_sub="admin";'
)


def oauth_listener(port: int) -> str:
    return (
        f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}\n"
        f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT\n"
        "inter.broker.listener.name=SASL_PLAINTEXT\n"
        "sasl.enabled.mechanisms=OAUTHBEARER\n"
        "sasl.mechanism.inter.broker.protocol=OAUTHBEARER\n"
        f"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config={BROKER_LOGIN}\n"
    )


@pytest.fixture
def oidc() -> Iterator[FakeOidc]:
    with FakeOidc(CLIENT, SECRET) as fake:
        yield fake


@pytest.fixture
async def oauth_stack(oidc: FakeOidc, admin_db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    client = {
        "LINGUAFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LINGUAFLOW_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
        "LINGUAFLOW_KAFKA_OAUTH_TOKEN_ENDPOINT": oidc.url,
        "LINGUAFLOW_KAFKA_OAUTH_CLIENT_ID": CLIENT,
        "LINGUAFLOW_KAFKA_OAUTH_CLIENT_SECRET": SECRET,
        "LINGUAFLOW_KAFKA_OAUTH_SCOPE": "kafka",
    }
    async with secured_stack("oauth", oauth_listener, client, admin_db_url, tmp_path) as stack:
        yield stack


async def test_pipeline_runs_on_an_oauthbearer_broker_with_client_credentials(
    oauth_stack: Stack, oidc: FakeOidc
) -> None:
    before = len(oidc.issued)
    await run_pipeline(oauth_stack, 200, "oauth")
    assert len(oidc.issued) > before  # the worker (a process of its own) fetched its own tokens
    assert set(oidc.scopes) == {"kafka"}


async def test_a_refused_client_never_reaches_the_broker_nor_shows_its_secret(oauth_stack: Stack) -> None:
    wrong = oauth_stack.settings.model_copy(update={"kafka_oauth_client_secret": SecretStr("wrong-oidc-9")})
    with pytest.raises(LinguaflowError) as info:
        await ensure_topics(wrong)
    assert "wrong-oidc-9" not in str(info.value)
    assert SECRET not in str(info.value)
