"""The pipeline on a broker whose only client listener is TLS, verified against our own CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from linguaflow.errors import InfraError
from linguaflow.kafka import ensure_topics
from tests.harness import Stack, scratch_dir
from tests.integration.secured import run_pipeline, secured_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki() -> tuple[Path, Path, Path]:
    """A CA, the broker's key + certificate chain (PEM, for 127.0.0.1), and a CA nobody trusts."""
    home = scratch_dir("tls-pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, keystore, stranger = home / "ca.pem", home / "broker.pem", home / "other-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(  # Kafka's PEM key store reads PKCS#8 only
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore.write_bytes(pkcs8 + b"".join(blob.bytes() for blob in server.cert_chain_pems))
    trustme.CA().cert_pem.write_to_path(str(stranger))
    return ca_file, keystore, stranger


@pytest.fixture
async def tls_stack(pki: tuple[Path, Path, Path], admin_db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    ca_file, keystore, _ = pki

    def listener(port: int) -> str:
        return (
            f"listeners=SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}\n"
            f"advertised.listeners=SSL://127.0.0.1:{port}\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SSL:SSL\n"
            "inter.broker.listener.name=SSL\n"
            "ssl.keystore.type=PEM\n"
            f"ssl.keystore.location={keystore}\n"
            "ssl.truststore.type=PEM\n"
            f"ssl.truststore.location={ca_file}\n"
        )

    client = {"LINGUAFLOW_KAFKA_SECURITY_PROTOCOL": "SSL", "LINGUAFLOW_KAFKA_SSL_CAFILE": str(ca_file)}
    async with secured_stack("tls", listener, client, admin_db_url, tmp_path) as stack:
        yield stack


async def test_pipeline_runs_on_a_tls_broker(tls_stack: Stack) -> None:
    await run_pipeline(tls_stack, 200, "tls")


async def test_a_broker_certificate_from_an_unknown_ca_is_refused(
    tls_stack: Stack, pki: tuple[Path, Path, Path]
) -> None:
    _, _, stranger = pki
    distrustful = tls_stack.settings.model_copy(update={"kafka_ssl_cafile": stranger})
    with pytest.raises(InfraError, match="cannot reach Kafka"):
        await ensure_topics(distrustful)
