"""The README's demo, run through the CLI exactly as a user runs it: it starts its own broker and
embedded Postgres, runs a worker, publishes, prints the summary and shuts everything down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.services import free_port

pytestmark = pytest.mark.e2e


def test_demo_prints_its_summary_and_cleans_up(tmp_path: Path) -> None:
    kafka_port = free_port(pair=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LINGUAFLOW_") and k != "DATABASE_URL"},
        "LINGUAFLOW_LOCAL_DIR": str(tmp_path),
        "LINGUAFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "LINGUAFLOW_PG_PORT": str(free_port()),
        "LINGUAFLOW_WEB_PORT": str(free_port()),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "linguaflow.cli",
            "demo",
            "--count",
            "2000",
            "--dup-ratio",
            "0.5",
            "--seed",
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = dict(
        line.split(None, 1)
        for line in proc.stdout.split("linguaflow demo summary", 1)[1].strip().splitlines()
    )
    assert int(summary["requests"]) == 2000
    assert int(summary["request_rows"]) == 2000
    assert int(summary["unique_keys"]) == 1000
    assert int(summary["provider_texts"]) == 1000  # one provider translation per unique key
    assert int(summary["cache_hits"]) + int(summary["coalesced"]) == 1000
    assert int(summary["worker_exit_code"]) == 0
    assert float(summary["elapsed_s"]) > 0
    # Everything the demo started is stopped again.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == "", leftovers.stdout
