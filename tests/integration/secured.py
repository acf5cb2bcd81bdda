"""A private broker whose only client listener is secured (SASL and/or TLS), a Stack on it, and
the certificates for TLS tests (our own CA).

The broker is ``ops/kafka/kafka.sh`` with extra server properties appended (later keys win) and
extra storage-format arguments (e.g. SCRAM users); the Stack's workers get the client settings.
"""

from __future__ import annotations

import os
import shutil
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import trustme
from cryptography.hazmat.primitives import serialization

from linguaflow.produce import publish
from linguaflow.synthetic import synthetic_requests
from testbed.services import Broker, Stack, free_port, make_stack, scratch_dir

Listener = Callable[[int], str]  # client port -> the properties that secure it


@dataclass(frozen=True)
class Pki:
    ca_file: Path  # what clients trust
    keystore: Path  # the server's PKCS#8 key + certificate chain (PEM), for 127.0.0.1
    stranger_ca_file: Path  # a CA that signed nothing of ours
    server: trustme.LeafCert
    client_cert: Path  # a client certificate from the same CA (mutual TLS), and its key
    client_key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        return context


def make_pki(home: Path) -> Pki:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    pki = Pki(
        home / "ca.pem",
        home / "server.pem",
        home / "other-ca.pem",
        server,
        home / "client.pem",
        home / "client.key",
    )
    ca.cert_pem.write_to_path(str(pki.ca_file))
    client = ca.issue_cert("linguaflow-client")
    client.cert_chain_pems[0].write_to_path(str(pki.client_cert))
    client.private_key_pem.write_to_path(str(pki.client_key))
    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(  # Kafka's PEM key store reads PKCS#8 only
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pki.keystore.write_bytes(pkcs8 + b"".join(blob.bytes() for blob in server.cert_chain_pems))
    trustme.CA().cert_pem.write_to_path(str(pki.stranger_ca_file))
    return pki


@asynccontextmanager
async def secured_stack(
    name: str,
    listener: Listener,
    client_env: dict[str, str],
    admin_db_url: str,
    tmp: Path,
    *,
    format_args: Sequence[str] = (),
) -> AsyncIterator[Stack]:
    home = scratch_dir(name)
    port = free_port(pair=True)
    props = home / f"{name}.properties"
    props.write_text(listener(port))
    broker = Broker(f"127.0.0.1:{port}", scratch_dir(f"{name}-data"), port)
    extra = {
        "LINGUAFLOW_KAFKA_EXTRA_PROPS": str(props),
        "LINGUAFLOW_KAFKA_FORMAT_ARGS": "\n".join(format_args),
    }
    with mock.patch.dict(os.environ, extra):
        proc = broker.script("start")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stack: Stack | None = None
    try:
        with mock.patch.dict(os.environ, client_env):  # make_stack builds Settings from the environment
            stack = await make_stack(broker, admin_db_url, tmp)
        stack.env.update(client_env)
        yield stack
    finally:
        for worker in stack.workers if stack else ():
            worker.kill()
        broker.script("stop")
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(broker.data_dir or home, ignore_errors=True)


async def run_pipeline(stack: Stack, count: int, run_id: str) -> None:
    """``count`` requests through one worker on ``stack``: every one gets its row."""
    worker = stack.start_worker().wait_ready()
    now = int(time.time() * 1000)
    report = await publish(
        stack.settings,
        synthetic_requests(count, 0.5, seed=71, now_ms=now, run_id=run_id),
        total=count,
        now_ms=now,
        progress=False,
    )
    assert report.sent == count
    assert await stack.wait_for("SELECT count(*) FROM translation_requests", count) == count
    assert worker.stop() == 0, worker.log_tail()
