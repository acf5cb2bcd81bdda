"""The local Kafka broker: a thin wrapper over ops/kafka/kafka.sh (Maven-fetched jars, KRaft).

The script is part of a checkout, not of the installed package: an installed copy points
LINGUAFLOW_KAFKA_BOOTSTRAP at a broker it already has (README, "Installing")."""

from __future__ import annotations

import os
import subprocess

from linguaflow.errors import InfraError
from linguaflow.settings import REPO_ROOT, Settings

SCRIPT = REPO_ROOT / "ops" / "kafka" / "kafka.sh"


def kafka_script(settings: Settings, *args: str, check: bool = True) -> int:
    if not SCRIPT.exists():
        raise InfraError(
            "the local broker launcher (ops/kafka/kafka.sh) comes with a linguaflow checkout, not with"
            " the installed package: run `linguaflow up` from a checkout, or point"
            " LINGUAFLOW_KAFKA_BOOTSTRAP at a broker you run and create the topics with a worker"
        )
    env = {**os.environ, "LINGUAFLOW_KAFKA_DATA": str(settings.local_dir / "kafka")}
    port = settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)[-1]
    env.setdefault("LINGUAFLOW_KAFKA_PORT", port)
    proc = subprocess.run(["bash", str(SCRIPT), *args], env=env, check=False)
    if check and proc.returncode != 0:
        raise InfraError(f"ops/kafka/kafka.sh {' '.join(args)} exited with {proc.returncode}")
    return proc.returncode
