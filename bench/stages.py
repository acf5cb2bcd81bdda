"""Where a process's CPU goes, by stage of the pipeline: py-spy samples (``--format raw``: one
collapsed stack and its count per line, root first) attributed to the innermost frame that names
a stage. Each system has its own rules; a sample no rule claims is the framework's or the event
loop's ("other")."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

# (stage, substrings of a frame "function (file:line)"), the first rule a frame matches wins.
Rules = tuple[tuple[str, tuple[str, ...]], ...]

LINGUAFLOW: Rules = (
    ("decode and validate", ("schemas/request.py", "schemas/_fields.py", "schemas/_frozen.py")),
    ("keying", ("streams/keying.py", "schemas/cache_key.py", "linguaflow/partitioner.py")),
    ("provider", ("streams/providers/",)),
    ("postgres client", ("asyncpg/",)),
    ("sink", ("/sinks/",)),
    ("produce", ("aiokafka/producer/",)),
    ("output", ("streams/batch_send.py", "linguaflow/kafka.py")),
    (
        "consume",
        (
            "aiokafka/consumer/",
            "aiokafka/record/",
            "aiokafka/conn.py",
            "aiokafka/protocol/",
            "aiokafka/client.py",
        ),
    ),
    ("faust", ("streams/upstream.py", "faust/")),
    (
        "results and cache",
        ("schemas/result.py", "streams/cache_store.py", "streams/cache_disk.py", "streams/outcomes.py"),
    ),
    ("dedup", ("streams/dedup.py", "streams/singleflight.py", "streams/batching.py", "streams/ttl.py")),
    ("offsets", ("streams/offsets.py", "streams/input_offsets.py")),
    ("telemetry", ("linguaflow/telemetry.py", "linguaflow/metrics.py", "opentelemetry/")),
    ("agents", ("streams/app.py", "streams/faust_app.py")),
    ("start-up", ("<frozen importlib",)),
)

# What each of linguaflow's stages is part of: the Kafka and Postgres clients and the event loops
# ("other": uvloop's own time in both threads), which the same-shape baseline's one process runs
# too; faust's fetch path (its consumer thread's hand-over, ``streams/upstream.py``); start-up;
# or linguaflow's own work per request (every other stage).
OWN_WORK = "linguaflow's own work"
CLIENTS = "Kafka and Postgres clients, event loops"
LINGUAFLOW_LAYERS = {
    **dict.fromkeys(("consume", "produce", "postgres client", "other"), CLIENTS),
    "faust": "faust's fetch path",
    "start-up": "start-up",
}


def layers(stages: dict[str, float], of: dict[str, str]) -> dict[str, float]:
    """Stage shares summed by layer (``of``: stage -> layer; stages not in it are ``OWN_WORK``)."""
    out: Counter[str] = Counter()
    for stage, share in stages.items():
        out[of.get(stage, OWN_WORK)] += share
    return dict(out.most_common())


QUIX: Rules = (
    ("decode and validate", ("schemas/request.py", "schemas/_fields.py", "schemas/_frozen.py")),
    ("keying", ("schemas/cache_key.py",)),
    ("provider", ("streams/providers/",)),
    ("sink", ("quixstreams/sinks/", "psycopg2/")),
    ("serialize", ("quixstreams/models/serializers/",)),
    ("state", ("quixstreams/state/", "rocksdict")),
    ("produce", ("quixstreams/kafka/producer.py", "quixstreams/rowproducer.py")),
    (
        "consume",
        ("quixstreams/kafka/consumer.py", "quixstreams/rowconsumer.py", "quixstreams/models/rows.py"),
    ),
    ("checkpoint", ("quixstreams/checkpointing/",)),
    ("pipeline", ("bench/quix_pipeline.py",)),
    ("dataframe", ("quixstreams/dataframe/", "quixstreams/core/")),
)


def stage_of(stack: list[str], rules: Rules) -> str:
    for frame in reversed(stack):
        for stage, marks in rules:
            if any(mark in frame for mark in marks):
                return stage
    return "other"


def split(raw: str, rules: Rules) -> dict[str, float]:
    """Each stage's share of the samples (0-1), largest first."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[stage_of(stack.split(";"), rules)] += int(n)
    total = sum(counts.values())
    return {stage: n / total for stage, n in counts.most_common()} if total else {}


def py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """Sample ``pid`` (100 Hz, on-CPU only) into ``out`` until the returned process is stopped
    with SIGINT."""
    spy = Path(sys.executable).with_name("py-spy")
    argv = [str(spy), "record", "-p", str(pid), "-r", "100", "-f", "raw", "-o", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
