"""The pipeline on a broker that only speaks SASL/SCRAM (as a managed Kafka does)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from linguaflow.errors import InfraError
from linguaflow.kafka import ensure_topics
from testbed.services import Stack
from tests.integration.secured import run_pipeline, secured_stack

pytestmark = pytest.mark.integration

USER, PASSWORD = "linguaflow", "s3cret-pw"
ADMIN = ("admin", "admin-s3cret")
JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="{}" password="{}";'


def sasl_listener(port: int) -> str:
    return (
        f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}\n"
        f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT\n"
        "inter.broker.listener.name=SASL_PLAINTEXT\n"
        "sasl.enabled.mechanisms=SCRAM-SHA-256\n"
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256\n"
        f"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={JAAS.format(*ADMIN)}\n"
    )


@pytest.fixture
async def sasl_stack(admin_db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    client = {
        "LINGUAFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LINGUAFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "LINGUAFLOW_KAFKA_SASL_USERNAME": USER,
        "LINGUAFLOW_KAFKA_SASL_PASSWORD": PASSWORD,
    }
    users = [f"SCRAM-SHA-256=[name={name},password={pw}]" for name, pw in (ADMIN, (USER, PASSWORD))]
    async with secured_stack(
        "sasl",
        sasl_listener,
        client,
        admin_db_url,
        tmp_path,
        format_args=[arg for user in users for arg in ("--add-scram", user)],
    ) as stack:
        yield stack


async def test_pipeline_runs_on_a_sasl_scram_broker(sasl_stack: Stack) -> None:
    await run_pipeline(sasl_stack, 200, "sasl")


async def test_a_wrong_password_is_refused_and_never_echoed(sasl_stack: Stack) -> None:
    wrong = sasl_stack.settings.model_copy(update={"kafka_sasl_password": SecretStr("wrong-pw-123")})
    with pytest.raises(InfraError, match="cannot reach Kafka") as info:
        await ensure_topics(wrong)
    assert "wrong-pw-123" not in str(info.value)
    assert PASSWORD not in str(info.value)
