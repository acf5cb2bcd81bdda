"""Helpers for the fault tests: streaming load in the background, result-topic accounting."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from linguaflow.kafka import read_topic, topic_partitions
from linguaflow.local.postgres import EmbeddedPostgres
from linguaflow.produce import publish
from linguaflow.schemas import decode_result
from linguaflow.synthetic import synthetic_requests
from testbed.fakes.server import FakeApi
from testbed.services import Broker, Stack, free_port, postmaster_pid
from tests.integration.runs import ROWS_FOR


async def stream_requests(
    stack: Stack,
    count: int,
    dup_ratio: float,
    *,
    seed: int,
    run_id: str,
    chunks: int,
    pause_s: float,
    gate: asyncio.Lock | None = None,
) -> None:
    """Publish ``count`` synthetic requests in ``chunks`` pieces, ``pause_s`` apart. Each piece is
    published holding ``gate``: whoever holds it (a broker outage) pauses the load between pieces."""
    now = int(time.time() * 1000)
    items = list(synthetic_requests(count, dup_ratio, seed=seed, now_ms=now, run_id=run_id))
    size = -(-count // chunks)
    for start in range(0, count, size):
        async with gate if gate is not None else contextlib.nullcontext():
            report = await publish(
                stack.settings, items[start : start + size], total=None, now_ms=now, progress=False
            )
        assert report.sent == len(items[start : start + size])
        await asyncio.sleep(pause_s)


async def provider_translations_per_key(stack: Stack) -> Counter[str]:
    """How many results per cache key came from a provider call (a 'miss'): more than one for a
    key means it was translated again after a crash."""
    misses: Counter[str] = Counter()
    async for record in read_topic(stack.settings, stack.settings.results_topic):
        result = decode_result(record.value or b"")
        if result.outcome == "miss":
            misses[result.cache_key] += 1
    return misses


async def ready_async(worker: Any) -> Any:
    """wait_ready without blocking the event loop (background load keeps flowing)."""
    return await asyncio.to_thread(worker.wait_ready)


async def where_are_missing(stack: Stack, prefix: str) -> str:
    """For a failure message: which stage the requests without a row reached."""
    settings = stack.settings
    rows = set(await stack.fetchval("SELECT coalesce(array_agg(request_id), '{}') FROM translation_requests"))
    stages: dict[str, set[str]] = {}
    for name, topic in (("requests", settings.requests_topic), ("keyed", settings.keyed_topic)):
        stages[name] = set()
        async for record in read_topic(settings, topic):
            rid = orjson.loads(record.value or b"{}").get("request_id", "")
            if rid.startswith(prefix):
                stages[name].add(rid)
    stages["results"] = set()
    async for record in read_topic(settings, settings.results_topic):
        stages["results"].add(decode_result(record.value or b"").request_id)
    missing = stages["requests"] - rows
    reached = {name: len(missing & ids) for name, ids in stages.items()}
    topics = [settings.requests_topic, settings.keyed_topic, settings.results_topic]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        committed = {
            group: {
                f"{tp.topic}:{tp.partition}": m.offset
                for tp, m in (await admin.list_consumer_group_offsets(group)).items()
            }
            for group in (settings.app_id, settings.sink_group)
        }
    finally:
        await admin.close()
    ends = {}
    for topic, tps in (await topic_partitions(settings, topics)).items():
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        await consumer.start()
        try:
            ends.update({f"{topic}:{tp.partition}": o for tp, o in (await consumer.end_offsets(tps)).items()})
        finally:
            await consumer.stop()
    return (
        f"{len(missing)} requests without a row; of those, reached: {reached}; e.g. {sorted(missing)[:5]};"
        f" committed {committed}; end offsets {ends};"
        f" workers: {[w.stats() if w.proc.poll() is None else w.proc.returncode for w in stack.workers]}"
    )


async def supervise(
    stack: Stack, worker: Any, done_sql: str, expected: int, *, timeout_s: float
) -> tuple[Any, int]:
    """Restart the worker whenever it exits (as systemd or Kubernetes would) until ``done_sql``
    returns ``expected``. Returns the worker now running and how many restarts it took."""
    restarts = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await stack.fetchval(done_sql) == expected:
            break
        if worker.proc.poll() is not None:
            restarts += 1
            worker = await ready_async(stack.start_worker(f"restart{restarts}"))
        await asyncio.sleep(0.5)
    return worker, restarts


async def assert_every_request_has_one_correct_row(
    stack: Stack, prefix: str, count: int, unique: int
) -> None:
    rows = await stack.wait_for(ROWS_FOR, count, prefix + "%", timeout_s=180)
    assert rows == count, await where_are_missing(stack, prefix)
    assert await stack.fetchval("SELECT count(DISTINCT request_id) FROM translation_requests") == count
    assert await stack.fetchval("SELECT count(*) FROM translations") == unique
    orphans = await stack.fetchval(
        "SELECT count(*) FROM translation_requests r LEFT JOIN translations t USING (cache_key)"
        " WHERE t.cache_key IS NULL"
    )
    assert orphans == 0


def slow_deepl_env(provider: FakeApi) -> dict[str, str]:
    """A stack's settings for a worker whose provider is ``provider`` (a fake DeepL that holds or
    hangs its calls): the calls wait, they do not time out."""
    return {
        "LINGUAFLOW_PROVIDER": "deepl",
        "LINGUAFLOW_DEEPL_API_KEY": "slow-deepl-key:fx",
        "LINGUAFLOW_DEEPL_BASE_URL": provider.url,
        "LINGUAFLOW_PROVIDER_TIMEOUT_S": "600",
    }


def ready_status(stack: Stack, timeout_s: float = 2) -> tuple[int, list[str]] | None:
    s = stack.settings
    try:
        with urllib.request.urlopen(f"http://{s.web_host}:{s.web_port}/ready", timeout=timeout_s) as r:
            return r.status, orjson.loads(r.read())["reasons"]
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())["reasons"]
    except OSError:
        return None


def health_status(stack: Stack, timeout_s: float = 5) -> int | None:
    """The status of GET /health, or None if it did not answer within ``timeout_s``."""
    s = stack.settings
    try:
        with urllib.request.urlopen(f"http://{s.web_host}:{s.web_port}/health", timeout=timeout_s) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


FAULT_COLUMNS = (
    "fault", "duration_s", "requests", "rows", "lost", "duplicate_rows", "provider_texts", "unique_keys",
    "recover_s",
)  # fmt: skip


def record_fault(row: dict[str, Any]) -> None:
    """One line of the fault table (FAULT_COLUMNS) on stdout, and as JSON appended to the file
    $LINGUAFLOW_FAULT_TABLE names."""
    row = {k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}
    cells = [str(row[k]) for k in FAULT_COLUMNS]
    cells[6:8] = [f"{row['provider_texts']} vs {row['unique_keys']}"]
    print("FAULT | " + " | ".join("-" if c == "None" else c for c in cells))
    table = os.environ.get("LINGUAFLOW_FAULT_TABLE")
    if table:
        with open(table, "a") as f:
            f.write(json.dumps({k: row[k] for k in FAULT_COLUMNS}) + "\n")


# --- Peer outages: a process killed (kill -9, then started again on its data) or hung (SIGSTOP,
# then SIGCONT). PID 1 on the test machines may reap no orphans: a killed daemon then stays a
# zombie whose pid still "exists" (kill(pid, 0) succeeds), and Postgres would refuse to start
# beside its postmaster.pid. So the private Postgres runs as our child (we are a child subreaper
# while it lives) and we reap it ourselves, by pid.

_PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def process_gone(pid: int) -> bool:
    """Exited (reaped by us here if it is our child, or a zombie of another parent)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait until every pid exited; returns those still alive after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    left = [pid for pid in pids if not process_gone(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [pid for pid in left if not process_gone(pid)]
    return left


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _wait_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing accepts connections on port {port} after {timeout_s:.0f}s")


def start_own_postgres(home: Path) -> EmbeddedPostgres:
    """A private Postgres whose postmaster is our child (see above); stop it with stop_own_postgres."""
    set_child_subreaper(True)
    server = EmbeddedPostgres(home / "data", free_port())
    try:
        server.start()
        parent = psutil.Process(postmaster_pid(server)).ppid()
        if parent != os.getpid():
            raise RuntimeError(f"the postmaster's parent is {parent}, not this process: it cannot be reaped")
    except BaseException:
        stop_own_postgres(server)
        raise
    return server


def stop_own_postgres(server: EmbeddedPostgres) -> None:
    """Fast shutdown (SIGINT), SIGKILL after 60 s; reaps the postmaster."""
    try:
        pid = postmaster_pid(server)
    except (OSError, ValueError):
        pid = None
    if pid is not None and not process_gone(pid):
        _signal(pid, signal.SIGCONT)
        _signal(pid, signal.SIGINT)
        if wait_gone([pid], 60):
            _signal(pid, signal.SIGKILL)
            wait_gone([pid], 30)
    set_child_subreaper(False)


class Fault:
    """A peer outage. ``inject`` takes the peer away, ``end`` brings it back (returns once it serves
    again), ``release`` resumes whatever was stopped: idempotent, call it in every ``finally``."""

    def __init__(self, peer: str, kind: str) -> None:
        assert kind in ("dead", "hung"), kind
        self.peer, self.kind, self.name = peer, kind, f"{peer}-{kind}"
        self.stopped: list[int] = []

    def inject(self) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError

    def _stop(self, pid: int) -> None:
        self.stopped.append(pid)  # first: a SIGCONT is owed even if the signal call fails
        _signal(pid, signal.SIGSTOP)

    def release(self) -> None:
        for pid in reversed(self.stopped):
            _signal(pid, signal.SIGCONT)
        self.stopped.clear()


class BrokerFault(Fault):
    """The single-node broker's JVM (its pid file: <data>/single/kafka.pid)."""

    def __init__(self, broker: Broker, kind: str) -> None:
        super().__init__("broker", kind)
        assert broker.data_dir is not None, "an external broker is not ours to fault"
        self.broker = broker

    def pid(self) -> int:
        return self.broker.pid()

    def _script(self, *args: str) -> None:
        proc = self.broker.script(*args)
        if proc.returncode != 0:
            raise RuntimeError(
                f"kafka.sh {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
            )

    def inject(self) -> None:
        pid = self.pid()
        if self.kind == "hung":
            self._stop(pid)
            return
        self._script("kill", "1")  # SIGKILL; returns once the JVM's command line is gone
        if wait_gone([pid], 30):  # the kernel may still be tearing the process down
            raise RuntimeError(f"the broker (pid {pid}) survived kill -9")

    def end(self) -> None:
        if self.kind == "hung":
            self.release()
        else:
            self._script("start-node", "1")  # same data dir and port; returns once it serves


class PostgresFault(Fault):
    """The postmaster of a private Postgres (from start_own_postgres) and, when hung, its children."""

    def __init__(self, server: EmbeddedPostgres, kind: str) -> None:
        super().__init__("postgres", kind)
        self.server = server

    def _children(self, pid: int) -> list[int]:
        try:
            return [child.pid for child in psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def inject(self) -> None:
        pid = postmaster_pid(self.server)
        if self.kind == "hung":
            self._stop(pid)  # first: a stopped postmaster forks no new children
            for _ in range(3):
                for child in self._children(pid):
                    if child not in self.stopped:
                        self._stop(child)
            return
        children = self._children(pid)
        _signal(pid, signal.SIGKILL)
        if wait_gone([pid], 10):
            raise RuntimeError(f"the postmaster (pid {pid}) survived kill -9")
        # Its children notice the postmaster's death and exit; a new postmaster cannot start
        # while one of them still holds the old shared memory.
        left = wait_gone(children, 30)
        if left:
            print(f"postgres children {left} outlived the postmaster by 30 s: killing them")
            for child in left:
                _signal(child, signal.SIGKILL)
            wait_gone(left, 10)

    def end(self) -> None:
        if self.kind == "hung":
            self.release()
            return
        self.server.start()  # same data dir and port: crash recovery, then it serves
        _wait_port(self.server.port)
