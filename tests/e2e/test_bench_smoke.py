"""The benchmark command as a user runs it, at CI size: it starts its own broker and Postgres,
writes every section of the report and the plots, and leaves nothing running. No assertion on
speed: the numbers of a shared CI machine are noise; the report states them, the test does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from linguaflow.settings import REPO_ROOT

pytestmark = pytest.mark.e2e

SECTIONS = (
    "environment",
    "raw",
    "end_to_end",
    "provider_models",
    "scaling",
    "cluster",
    "recovery",
    "peer",
    "targets",
)
HEADINGS = (
    "## Targets",
    "## Raw baselines",
    "## End to end",
    "## Cache-hit latency by load",
    "## Provider latency models",
    "## Scaling",
    "## Three brokers",
    "## The peer: a Quix Streams build",
    "## Recovery",
    "## Not measured",
)


def _bench_processes() -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "linguaflow-bench-" in cmdline:
            found.append(cmdline[:200])
    return found


def _bench(tmp_path: Path, *args: str) -> tuple[Path, str]:
    """``python -m bench run --tiny ARGS`` as a user runs it (no LINGUAFLOW_* or DATABASE_URL of
    ours): the report's directory and what the command printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINGUAFLOW_") and k != "DATABASE_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--tiny", *args, "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (out,) = tmp_path.iterdir()
    return out, proc.stdout


def test_bench_tiny_writes_every_section_and_cleans_up(tmp_path: Path) -> None:
    out, _ = _bench(tmp_path)
    report = json.loads((out / "report.json").read_text())
    for section in SECTIONS:
        assert report[section], section
    assert set(report["raw"]) == {"produce_only", "pass_through", "same_shape", "postgres"}
    assert report["raw"]["same_shape"]["messages"] == report["environment"]["raw_messages"]
    assert report["raw"]["same_shape"]["cpu_us_per_msg"] > 0
    e2e = report["end_to_end"]
    # the product's default store: RocksDB's use of its 64 MiB budget, read beside the RSS
    assert report["environment"]["cache_store"] == "disk"
    assert e2e["rocksdb_budget_mib"] == 64
    assert e2e["rocksdb_cache_mib"]
    assert all(use >= 0 for _, use in e2e["rocksdb_cache_mib"])
    runs = e2e["runs"]
    assert set(runs) == {
        "dup0",
        "dup50",
        "dup90",
        "dup99",
        "warm",
        "warm_paced",
        "warm_paced_25",
        "warm_paced_75",
    }
    warm_max = runs["warm"]["requests_per_s"]
    for name, share in (("warm_paced_25", 0.25), ("warm_paced", 0.5), ("warm_paced_75", 0.75)):
        assert runs[name]["paced_rate_per_s"] == pytest.approx(share * warm_max)
        assert runs[name]["provider_texts"] == 0, name  # all hits
    assert set(report["provider_models"]) == {"deepl_150ms", "llm_1500ms"}
    scaling = report["scaling"]
    assert [(s["workers"], s["sinks"], s["partitions"], s["event_loop"]) for s in scaling.values()] == [
        (1, 0, 4, "uvloop"),
        (1, 0, 4, "asyncio"),
        (2, 0, 4, "uvloop"),
        (2, 0, 8, "uvloop"),
        (4, 0, 8, "uvloop"),
        (1, 1, 4, "uvloop"),
    ]
    cluster = report["cluster"]
    assert (cluster["brokers"], cluster["replication_factor"], cluster["dup90"]["brokers"]) == (3, 3, 3)
    assert cluster["pass_through"]["messages"] == report["environment"]["raw_messages"]
    for name, shape in [*scaling.items(), ("cluster", cluster["dup90"])]:
        assert shape["complete"], name
        assert set(shape["exit_codes"]) == {0}, name
        assert 0 < shape["cpu_ms_per_request"] < shape["machine_cpu_ms_per_request"], name
        assert 0 < shape["machine_busy"] <= 1, name
    assert set(report["peer"]) == {"peer0", "peer90"}
    for name, run in report["peer"].items():
        assert run["requests"] == report["environment"]["peer_requests"]
        for system in ("linguaflow", "quix"):
            assert run[system]["complete"], (name, system)
            assert run[system]["exit_code"] == 0, (name, system)
            assert run["translations"][system] == run["unique_keys"], (name, system)
            cpu = run[system]["cpu_ms_per_request"]
            assert 0 < cpu["own"] < cpu["total"], (name, system)
    assert len(report["targets"]) == 9
    assert all(isinstance(t["passed"], bool) for t in report["targets"])
    markdown = (out / "report.md").read_text()
    for heading in HEADINGS:
        assert heading in markdown
    assert markdown.count("PASS") + markdown.count("FAIL") >= 9
    for plot in report["plots"]:
        assert (out / plot).stat().st_size > 1000
    assert report["end_to_end"]["worker_exit_code"] == 0
    recovery = report["recovery"]
    assert recovery["entries_held"] == recovery["entries"] == report["environment"]["recovery_entries"]
    # the default store (disk): a second start finds the first one's checkpoint and holds every
    # entry again (the integration tests check it reads nothing of the log)
    assert report["environment"]["cache_store"] == "disk"
    assert recovery["restart_entries_held"] == recovery["entries"]
    assert recovery["restart_ready_s"] > 0
    assert not _bench_processes(), "the benchmark left processes running"


def test_bench_recovery_with_the_memory_store_has_no_warm_restart(tmp_path: Path) -> None:
    """``--only recovery --cache-store memory``: every start reads the whole changelog, so there
    is no clean restart to time."""
    out, printed = _bench(tmp_path, "--only", "recovery", "--cache-store", "memory")
    (run,) = json.loads((out / "report.json").read_text())["recovery_runs"]
    assert run["entries_held"] == run["entries"] == 1_000
    assert run["restart_ready_s"] is None
    assert "clean restart: ready" not in printed
    assert not _bench_processes(), "the benchmark left processes running"
