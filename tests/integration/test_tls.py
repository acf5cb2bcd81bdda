"""TLS everywhere a deployment needs it: a broker whose only client listener is TLS (and one that
also requires a client certificate: mutual TLS), and a Postgres reached with
``sslmode=verify-full``; all verified against our own CA."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from linguaflow.errors import InfraError
from linguaflow.kafka import ensure_topics
from testbed.services import Stack, scratch_dir
from tests.integration.pg_tls_proxy import PgTlsProxy
from tests.integration.secured import Pki, make_pki, run_pipeline, secured_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    home = scratch_dir("tls-pki")
    yield make_pki(home)
    shutil.rmtree(home, ignore_errors=True)


def tls_listener(pki: Pki, port: int) -> str:
    return (
        f"listeners=SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}\n"
        f"advertised.listeners=SSL://127.0.0.1:{port}\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SSL:SSL\n"
        "inter.broker.listener.name=SSL\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={pki.keystore}\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={pki.ca_file}\n"
    )


@pytest.fixture
async def tls_stack(pki: Pki, admin_db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    client = {"LINGUAFLOW_KAFKA_SECURITY_PROTOCOL": "SSL", "LINGUAFLOW_KAFKA_SSL_CAFILE": str(pki.ca_file)}
    async with secured_stack("tls", partial(tls_listener, pki), client, admin_db_url, tmp_path) as stack:
        yield stack


@pytest.fixture
async def mtls_stack(pki: Pki, admin_db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """A broker that also asks every client for a certificate from our CA (mutual TLS)."""

    def listener(port: int) -> str:
        return tls_listener(pki, port) + "ssl.client.auth=required\n"

    client = {
        "LINGUAFLOW_KAFKA_SECURITY_PROTOCOL": "SSL",
        "LINGUAFLOW_KAFKA_SSL_CAFILE": str(pki.ca_file),
        "LINGUAFLOW_KAFKA_SSL_CERTFILE": str(pki.client_cert),
        "LINGUAFLOW_KAFKA_SSL_KEYFILE": str(pki.client_key),
    }
    async with secured_stack("mtls", listener, client, admin_db_url, tmp_path) as stack:
        yield stack


async def test_pipeline_runs_on_a_tls_broker(tls_stack: Stack) -> None:
    await run_pipeline(tls_stack, 200, "tls")


async def test_pipeline_runs_with_a_client_certificate_and_none_is_refused(mtls_stack: Stack) -> None:
    await run_pipeline(mtls_stack, 200, "mtls")
    anonymous = mtls_stack.settings.model_copy(update={"kafka_ssl_certfile": None, "kafka_ssl_keyfile": None})
    with pytest.raises(InfraError, match="cannot reach Kafka"):
        await ensure_topics(anonymous)


async def test_a_broker_certificate_from_an_unknown_ca_is_refused(tls_stack: Stack, pki: Pki) -> None:
    distrustful = tls_stack.settings.model_copy(update={"kafka_ssl_cafile": pki.stranger_ca_file})
    with pytest.raises(InfraError, match="cannot reach Kafka"):
        await ensure_topics(distrustful)


async def test_the_sink_writes_to_postgres_over_verified_tls(stack: Stack, pki: Pki) -> None:
    direct = urlsplit(stack.db_url)
    assert direct.port is not None
    proxy = PgTlsProxy(direct.port, pki.server_context()).start()
    try:
        tls_url = direct._replace(netloc=direct.netloc.replace(f":{direct.port}", f":{proxy.port}")).geturl()
        stack.env["DATABASE_URL"] = f"{tls_url}?sslmode=verify-full&sslrootcert={pki.ca_file}"
        await run_pipeline(stack, 100, "pg-tls")  # the worker's sink writes through the proxy
        assert proxy.tls_sessions > 0
        with pytest.raises((OSError, asyncpg.PostgresError)):  # plaintext is refused
            await asyncpg.connect(f"{tls_url}?sslmode=disable", timeout=10)
        with pytest.raises(ssl.SSLCertVerificationError):  # the certificate is checked
            await asyncpg.connect(f"{tls_url}?sslmode=verify-full&sslrootcert={pki.stranger_ca_file}")
    finally:
        proxy.stop()
