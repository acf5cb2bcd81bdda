"""The pipeline on a broker that only speaks SASL/SCRAM (as a managed Kafka does)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from linguaflow.errors import InfraError
from linguaflow.kafka import ensure_topics
from linguaflow.produce import publish
from linguaflow.synthetic import synthetic_requests
from tests.harness import Broker, Stack, free_port, make_stack, scratch_dir

pytestmark = pytest.mark.integration

USER, PASSWORD = "linguaflow", "s3cret-pw"
ADMIN = ("admin", "admin-s3cret")


def sasl_broker(home: str) -> Broker:
    port = free_port(pair=True)
    props = f"{home}/sasl.properties"
    jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="{}" password="{}";'
    with open(props, "w") as f:
        f.write(
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1}\n"
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT\n"
            "inter.broker.listener.name=SASL_PLAINTEXT\n"
            "sasl.enabled.mechanisms=SCRAM-SHA-256\n"
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256\n"
            f"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config={jaas.format(*ADMIN)}\n"
        )
    return Broker(f"127.0.0.1:{port}", scratch_dir("sasl-data"), port)


@pytest.fixture
async def sasl_stack(admin_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    home = scratch_dir("sasl")
    broker = sasl_broker(str(home))
    scram = "\n".join(
        [
            "--add-scram",
            f"SCRAM-SHA-256=[name={ADMIN[0]},password={ADMIN[1]}]",
            "--add-scram",
            f"SCRAM-SHA-256=[name={USER},password={PASSWORD}]",
        ]
    )
    os.environ["LINGUAFLOW_KAFKA_EXTRA_PROPS"] = f"{home}/sasl.properties"
    os.environ["LINGUAFLOW_KAFKA_FORMAT_ARGS"] = scram
    try:
        proc = broker.script("start")
    finally:
        del os.environ["LINGUAFLOW_KAFKA_EXTRA_PROPS"], os.environ["LINGUAFLOW_KAFKA_FORMAT_ARGS"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    secure = {
        "LINGUAFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LINGUAFLOW_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "LINGUAFLOW_KAFKA_SASL_USERNAME": USER,
        "LINGUAFLOW_KAFKA_SASL_PASSWORD": PASSWORD,
    }
    os.environ.update(secure)  # make_stack migrates and builds Settings from the environment
    try:
        stack = await make_stack(broker, admin_db_url, tmp_path_factory.mktemp("sasl"))
    finally:
        for key in secure:
            del os.environ[key]
    stack.env.update(secure)
    yield stack
    for worker in stack.workers:
        worker.kill()
    broker.script("stop")
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(broker.data_dir or home, ignore_errors=True)


async def test_pipeline_runs_on_a_sasl_scram_broker(sasl_stack: Stack) -> None:
    stack = sasl_stack
    worker = stack.start_worker().wait_ready()
    now = int(time.time() * 1000)
    report = await publish(
        stack.settings,
        synthetic_requests(200, 0.5, seed=71, now_ms=now, run_id="sasl"),
        total=200,
        now_ms=now,
        progress=False,
    )
    assert report.sent == 200
    assert await stack.wait_for("SELECT count(*) FROM translation_requests", 200) == 200
    assert worker.stop() == 0, worker.log_tail()


async def test_a_wrong_password_is_refused_and_never_echoed(sasl_stack: Stack) -> None:
    wrong = sasl_stack.settings.model_copy(update={"kafka_sasl_password": SecretStr("wrong-pw-123")})
    with pytest.raises(InfraError, match="cannot reach Kafka") as info:
        await ensure_topics(wrong)
    assert "wrong-pw-123" not in str(info.value)
    assert PASSWORD not in str(info.value)
