"""Test harness for the integration and e2e tiers: the real Kafka broker (ops/kafka/kafka.sh) and
the embedded PostgreSQL, isolated per test by topic names, consumer groups, database and ports.

Nothing here skips: if the broker or the database cannot be started, the test fails and says why.
``LINGUAFLOW_TEST_KAFKA_BOOTSTRAP`` / ``LINGUAFLOW_TEST_DATABASE_URL`` point the tests at servers
you already run instead.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg
import orjson
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from linguaflow.demo import start_worker, stop_worker, wait_ready
from linguaflow.infra import migrate_db
from linguaflow.local.postgres import EmbeddedPostgres
from linguaflow.settings import REPO_ROOT, Settings

KAFKA_SCRIPT = REPO_ROOT / "ops" / "kafka" / "kafka.sh"
FAST_COMPACTION = {
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "100",
}
_counter = itertools.count(1)
# Stack.settings patches os.environ for a moment; tests read it from threads too (asyncio.to_thread),
# and two patches interleaved restore each other's patched copy: the stack's variables would leak
# into the process's environment for good.
_ENV_LOCK = threading.Lock()


def scratch_dir(name: str) -> Path:
    """A private directory outside pytest's tmp root. The embedded Postgres runs as another user
    (as root) and must traverse its parents; pytest re-chmods its own root to 0700 whenever a
    pytest session starts, which would lock a running server out of its data."""
    return Path(tempfile.mkdtemp(prefix=f"linguaflow-{name}-"))


def free_port(pair: bool = False) -> int:
    """A free TCP port on 127.0.0.1 (with ``pair``, port+1 is free too)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if not pair or port >= 65535:
            return port
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


@dataclass
class Broker:
    bootstrap: str
    data_dir: Path | None  # None: an external broker we did not start
    port: int = 0  # single node: its port; cluster: the base port (nodes on base, base+2, base+4)

    def script(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.data_dir is not None, "an external broker is not ours to control"
        env = {
            **os.environ,
            "LINGUAFLOW_KAFKA_DATA": str(self.data_dir),
            "LINGUAFLOW_KAFKA_PORT": str(self.port),
            "LINGUAFLOW_KAFKA_CLUSTER_BASE_PORT": str(self.port),
        }
        return subprocess.run(
            ["bash", str(KAFKA_SCRIPT), *args],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def pid(self) -> int:
        """The single node's JVM (its pid file: <data>/single/kafka.pid)."""
        assert self.data_dir is not None, "an external broker is not ours to control"
        return int((self.data_dir / "single" / "kafka.pid").read_text().strip())


def postmaster_pid(server: EmbeddedPostgres) -> int:
    """The embedded Postgres' postmaster (the first line of its postmaster.pid)."""
    return int((server.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def _free_block(size: int) -> int:
    """A base port with ``size`` consecutive free ports (a 3-node cluster needs 6)."""
    for _ in range(100):
        base = free_port()
        if base + size >= 65535:
            continue
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {size} consecutive free ports found")


def start_broker(data_dir: Path, *, cluster: bool = False) -> Broker:
    """A single node (or with ``cluster``, three nodes) of the real broker, started for the tests."""
    external = os.environ.get("LINGUAFLOW_TEST_KAFKA_BOOTSTRAP")
    if external and not cluster:
        return Broker(external, None)
    if cluster:
        base = _free_block(6)
        broker = Broker(",".join(f"127.0.0.1:{base + 2 * n}" for n in range(3)), data_dir, base)
    else:
        port = free_port(pair=True)
        broker = Broker(f"127.0.0.1:{port}", data_dir, port)
    proc = broker.script("start", "--cluster") if cluster else broker.script("start")
    if proc.returncode != 0:
        raise RuntimeError(
            "the Kafka broker did not start (integration tests need it; they never skip):\n"
            + proc.stdout[-3000:]
            + proc.stderr[-3000:]
        )
    return broker


@dataclass
class Stack:
    """One test's private slice of the shared broker and database."""

    broker: Broker
    admin_db_url: str
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    workers: list[Any] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        with _ENV_LOCK, mock.patch.dict(os.environ, self.env, clear=False):
            return Settings()

    @property
    def db_url(self) -> str:
        return self.env["DATABASE_URL"]

    def start_worker(
        self, name: str = "worker", *, own_port: bool = False, command: str = "worker"
    ) -> WorkerProcess:
        """Start a worker (or another ``linguaflow`` process: ``command``); ``own_port`` gives it a
        web port of its own (to run several at once)."""
        env = {**self.env, "LINGUAFLOW_WEB_PORT": str(free_port())} if own_port else self.env
        worker = WorkerProcess(self, self.tmp / f"{name}.log", env, command=command)
        self.workers.append(worker)
        return worker

    def start_sink(self, name: str = "sink") -> WorkerProcess:
        """Start ``linguaflow sink`` (a sink process) on a web port of its own."""
        return self.start_worker(name, own_port=True, command="sink")

    async def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``linguaflow ARGS`` as a user runs it, with this stack's settings."""
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "linguaflow.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.db_url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def wait_for(self, sql: str, expected: Any, *args: Any, timeout_s: float = 90) -> Any:
        """Poll ``sql`` until it returns ``expected``; return the last value either way."""
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            value = await self.fetchval(sql, *args)
            if value == expected:
                return value
            await asyncio.sleep(0.25)
        return value


def unique_prefix() -> str:
    return f"t{os.getpid()}x{next(_counter)}"


async def create_database(admin_db_url: str, name: str) -> str:
    """A new, empty database on the server behind ``admin_db_url``; returns its URL."""
    conn = await asyncpg.connect(admin_db_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_db_url.rsplit("/", 1)[0] + f"/{name}"


async def make_stack(broker: Broker, admin_db_url: str, tmp: Path) -> Stack:
    prefix = unique_prefix()
    db_url = await create_database(admin_db_url, prefix)
    stack = Stack(broker, admin_db_url, tmp)
    stack.env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LINGUAFLOW_")},
        "LINGUAFLOW_KAFKA_BOOTSTRAP": broker.bootstrap,
        "LINGUAFLOW_APP_ID": prefix,
        "LINGUAFLOW_REQUESTS_TOPIC": f"{prefix}.requests",
        "LINGUAFLOW_KEYED_TOPIC": f"{prefix}.requests.keyed",
        "LINGUAFLOW_RESULTS_TOPIC": f"{prefix}.results",
        "LINGUAFLOW_DLQ_TOPIC": f"{prefix}.dlq",
        "LINGUAFLOW_CACHE_TOPIC": f"{prefix}.cache",
        "LINGUAFLOW_CACHE_TOPIC_CONFIG": orjson.dumps(FAST_COMPACTION).decode(),
        "LINGUAFLOW_SINK_GROUP": f"{prefix}-sink",
        "LINGUAFLOW_WEB_PORT": str(free_port()),
        "LINGUAFLOW_LOCAL_DIR": str(tmp),
        "LINGUAFLOW_PARTITIONS": "4",
        "DATABASE_URL": db_url,
    }
    await migrate_db(stack.settings)
    return stack


class WorkerProcess:
    """``linguaflow worker`` (or ``sink``) as a child process, the way an operator runs it."""

    def __init__(self, stack: Stack, log_path: Path, env: dict[str, str], *, command: str = "worker") -> None:
        self.stack = stack
        self.log_path = log_path
        self.web_port = int(env["LINGUAFLOW_WEB_PORT"])
        self.settings = stack.settings.model_copy(update={"web_port": self.web_port})
        self.proc = start_worker(str(log_path), env, command=command)

    def wait_ready(self, timeout_s: float = 120) -> WorkerProcess:
        try:
            wait_ready(self.settings, self.proc, timeout_s)
        except Exception as exc:
            raise AssertionError(f"worker not ready: {exc}\n--- worker log ---\n{self.log_tail()}") from exc
        return self

    def stats(self) -> dict[str, Any]:
        s = self.settings
        with urllib.request.urlopen(f"http://{s.web_host}:{s.web_port}/stats", timeout=5) as r:
            stats: dict[str, Any] = orjson.loads(r.read())
            return stats

    def counter(self, name: str) -> int:
        return int(self.stats()["counters"].get(name, 0))

    def metrics(self) -> list[Sample]:
        """Every sample of the worker's Prometheus ``/metrics`` page."""
        s = self.settings
        with urllib.request.urlopen(f"http://{s.web_host}:{s.web_port}/metrics", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            text = r.read().decode()
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    def stop(self, timeout_s: float = 60) -> int:
        if self.proc.poll() is not None:
            return self.proc.returncode
        return stop_worker(self.proc, timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"
