"""The benchmark report: its RSS rules (peak over the first sample, and the same once start-up is
over), the leak check over the all-hit runs, the table of cache-hit latency by load, and the
scaling table with the CPU each shape used, and the single node against three brokers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.infra import keep_dir
from bench.report import evaluate, restart_note, rocksdb_note, rss_drift, rss_drift_settled, shape_note
from bench.report_runs import paced_table, runs_table, steal_note
from bench.report_scale import cluster_table, scaling_table
from bench.scaling import CpuSnapshot, cpu_use
from bench.steal import steal_series, stolen_cores

# (t, rss_mib, cpu_s): a fixed-size buffer fills in the first seconds, then memory is flat
FILLS_THEN_FLAT = [
    [0.0, 100.0, 0.0],
    [1.0, 150.0, 1.0],
    [2.0, 160.0, 2.0],
    *([t, 162.0, t] for t in range(3, 60)),
]
GROWS = [[float(t), 100.0 + 10 * t, float(t)] for t in range(60)]


def test_the_rss_rules_tell_a_buffer_that_fills_from_memory_that_grows() -> None:
    assert rss_drift(FILLS_THEN_FLAT) == pytest.approx(0.62)
    assert rss_drift_settled(FILLS_THEN_FLAT) == 0.0
    assert rss_drift_settled(GROWS) > 3  # 160 -> 690 MiB over the last 90 %


def test_too_few_samples_give_no_drift() -> None:
    assert rss_drift([[0.0, 1.0, 0.0]]) is None
    assert rss_drift_settled([]) is None
    assert rss_drift_settled([[0.0, 100.0, 0.0], [1.0, 120.0, 1.0]]) is None  # one sample from 10 % in


def test_kept_logs_leave_out_the_brokers_segment_files(tmp_path: Path) -> None:
    src = tmp_path / "scratch"
    (src / "kafka" / "single" / "data" / "t1.results-0").mkdir(parents=True)
    (src / "kafka" / "single" / "data" / "t1.results-0" / "00000000000000000000.log").write_bytes(b"x" * 100)
    (src / "kafka" / "single" / "server.log").write_text("broker started")
    (src / "e2e").mkdir()
    (src / "e2e" / "worker.log").write_text("worker ready")
    keep_dir(src, tmp_path / "kept")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["e2e-worker.log", "single-server.log"]


def test_the_shape_note_puts_end_to_end_against_the_same_shape_baseline() -> None:
    raw = {"pass_through": {"msg_per_s": 80_000.0}, "same_shape": {"msg_per_s": 48_000.0}}
    note = " ".join(shape_note(raw, {"dup90": {"requests_per_s": 10_000.0, "sink_rows_per_s": None}}))
    assert "moves 48,000 msg/s, 0.60 of the pass-through" in note
    assert "end to end at 90 % duplicates is 0.21 of it" in note
    assert "drained" not in note  # a run with no rows/s after publishing says nothing of it


def test_the_shape_note_gives_the_rate_measured_as_the_baselines_are() -> None:
    raw = {"pass_through": {"msg_per_s": 80_000.0}, "same_shape": {"msg_per_s": 48_000.0}}
    runs = {"dup90": {"requests_per_s": 10_000.0, "sink_rows_per_s": 12_000.0}}
    note = " ".join(shape_note(raw, runs))
    assert "end to end is 12,000 req/s, 0.15 of the pass-through and 0.25 of the same shape" in note


def test_the_shape_note_gives_the_same_shapes_cpu_per_message_when_measured() -> None:
    shape = {"msg_per_s": 48_000.0, "cpu_us_per_msg": 19.04}
    raw = {"pass_through": {"msg_per_s": 80_000.0}, "same_shape": shape}
    note = " ".join(shape_note(raw, {"dup90": {"requests_per_s": 10_000.0, "sink_rows_per_s": None}}))
    assert "0.60 of the pass-through, with 19.0 µs of CPU per message; end to end" in note


def _run(
    rate: float | None, req_s: float, window: tuple[float, float], p99: int = 20, steal: float = 0.0
) -> dict[str, Any]:
    run = {
        "paced_rate_per_s": rate,
        "requests": 100_000,
        "requests_per_s": req_s,
        "window_s": list(window),
        "p50_ms": 5,
        "p95_ms": 10,
        "p99_ms": p99,
        "max_ms": 40,
        "cpu_ms_per_request": 0.1,
        "provider_calls_per_1000": 2.0,
        "provider_texts_per_1000": 100.0,
        "unique_keys_per_1000": 100.0,
        "sink_rows_per_s": None,
        "provider_texts": 0,
        "unique_keys": 100,
        "stolen_cores": steal,
    }
    if rate is not None:  # half-second samples: a stretch of steal in the middle of the run
        run["steal_over_time"] = [(0.5, 0.0), (1.0, 4 * steal), (1.5, 0.0)]
    return run


RUNS = {
    "dup90": _run(None, 9_000.0, (0.0, 10.0), steal=0.05),
    "warm": _run(None, 12_000.0, (10.0, 20.0)),
    "warm_paced": _run(6_000.0, 5_990.0, (20.0, 30.0), p99=25, steal=0.2),
    "warm_paced_25": _run(3_000.0, 2_995.0, (30.0, 40.0), p99=15),
    "warm_paced_75": _run(9_000.0, 8_900.0, (40.0, 50.0), p99=48),
}


def test_the_paced_runs_are_tabled_from_the_lightest_load_up() -> None:
    table = paced_table(RUNS)
    assert table[2:] == [
        "| 25% | 3,000 | 2,995 | 5 / 10 / 15 / 40 | 0.10 | 0.00 / 0.00 |",
        "| 50% | 6,000 | 5,990 | 5 / 10 / 25 / 40 | 0.10 | 0.20 / 0.80 |",
        "| 75% | 9,000 | 8,900 | 5 / 10 / 48 / 40 | 0.10 | 0.00 / 0.00 |",
    ]


def test_each_run_says_how_many_cores_the_host_took() -> None:
    assert runs_table({"dup90": RUNS["dup90"]})[2] == (
        "| dup90 | 100,000 | 9,000 | 2.0 | 100.0 | 100.0 | 5 / 10 / 20 | - | 0.10 | 0.05 |"
    )
    note = " ".join(steal_note({"pass_through": {"stolen_cores": 0.01}}, RUNS))
    assert "pass-through 0.01, 90 % run 0.05, paced run at half the maximum 0.20 (peak 0.80" in note


def test_stolen_cores_are_the_stolen_seconds_over_the_window() -> None:
    assert stolen_cores(100.0, 101.5, 3.0) == pytest.approx(0.5)
    assert stolen_cores(100.0, 100.0, 0.0) is None  # no window, no rate
    # (t, rss, cpu, stolen): 0.4 s stolen in the second half-second only
    samples = [[10.0, 1.0, 1.0, 50.0], [10.5, 1.0, 1.2, 50.0], [11.0, 1.0, 1.5, 50.4]]
    assert steal_series(samples, 10.0) == [(0.5, 0.0), (1.0, pytest.approx(0.8))]


def _report(samples: list[list[float]]) -> dict[str, Any]:
    return {
        "environment": {"cache_store": "memory"},
        "raw": {
            "pass_through": {"msg_per_s": 50_000.0},
            "same_shape": {"msg_per_s": 20_000.0},
            "postgres": {"sink_rows_per_s": 60_000.0, "copy_rows_per_s": 100_000.0},
        },
        "recovery": {
            "entries_per_s_net": 150_000.0,
            "entries": 1000,
            "recovery_s": 0.1,
            "ready_full_s": 2.1,
            "ready_empty_s": 2.0,
        },
        "end_to_end": {"runs": RUNS, "process": samples},
        "peer": {
            "peer90": {
                "dup_ratio": 0.9,
                "speedup": 2.0,
                "linguaflow": {
                    "from_first_row_per_s": 12_000.0,
                    "requests_per_s": 10_000.0,
                    "cpu_ms_per_request": {"total": 0.1},
                },
                "quix": {"requests_per_s": 5_000.0, "cpu_ms_per_request": {"total": 0.2}},
            }
        },
    }


def test_the_leak_check_spans_every_all_hit_run_and_the_latency_target_is_at_half() -> None:
    flat = [[float(t), 200.0, float(t)] for t in range(0, 51)]
    grows_late = [[float(t), 200.0 + (5 * (t - 40) if t > 40 else 0), float(t)] for t in range(0, 51)]
    ok = {t.name: t for t in evaluate(_report(flat))}
    leak = "worker RSS flat over the all-hit runs (no new keys: a leak check)"
    assert ok[leak].passed
    assert not {t.name: t for t in evaluate(_report(grows_late))}[leak].passed  # +25 % in the 75 % run
    drain = ok[
        "end to end at 90 % duplicates (draining a filled topic) vs the pipeline's shape with nothing else"
    ]
    assert (drain.ratio, drain.passed) == (0.6, True)
    latency = ok["cache-hit p99 produce->result at half the warm maximum"]
    assert latency.measured == "p99 25 ms at 6000 req/s"
    assert latency.passed


def test_the_restart_note_says_what_a_restart_costs_with_each_store() -> None:
    rec = {"ready_full_s": 7.5, "ready_empty_s": 2.25, "restart_ready_s": None}
    assert restart_note(rec, "memory") == (
        "CACHE_STORE=memory: every start reads the whole changelog, so a restart takes as long."
    )
    rec |= {"restart_ready_s": 2.5, "restart_entries_held": 1_000_000}
    assert restart_note(rec, "disk") == (
        "Clean restart (CACHE_STORE=disk, the first start's directory and checkpoint): ready in 2.50 s "
        "holding 1,000,000 entries, vs 7.50 s for the first start's whole read and 2.25 s with an "
        "empty cache."
    )


def test_cpu_use_is_per_request_and_the_machine_share_counts_every_core() -> None:
    before = CpuSnapshot(processes_s=10.0, machine_busy_s=100.0, machine_total_s=200.0)
    after = CpuSnapshot(processes_s=15.0, machine_busy_s=118.0, machine_total_s=220.0)
    use = cpu_use(before, after, requests=50_000)
    assert use["cpu_ms_per_request"] == pytest.approx(0.1)
    assert use["machine_busy"] == pytest.approx(0.9)
    assert use["machine_cpu_ms_per_request"] == pytest.approx(0.36)  # 18 s of both cores


def _shape(workers: int, partitions: int, req_s: float, busy: float, loop: str = "uvloop") -> dict[str, Any]:
    return {
        "workers": workers,
        "sinks": 0,
        "partitions": partitions,
        "event_loop": loop,
        "requests_per_s": req_s,
        "cpu_ms_per_request": 0.08,
        "machine_cpu_ms_per_request": 0.12,
        "machine_busy": busy,
        "stolen_cores": 0.1,
        "p50_ms": 100,
        "p99_ms": 900,
        "complete": True,
    }


def test_the_scaling_table_puts_each_shape_against_one_worker() -> None:
    table = scaling_table(
        {
            "workers_1": _shape(1, 4, 10_000.0, 0.7),
            "workers_1_asyncio": _shape(1, 4, 9_500.0, 0.7, "asyncio"),
            "workers_4_p8": _shape(4, 8, 15_000.0, 0.98),
        }
    )
    assert table[2:] == [
        "| 1 | 0 | 4 | uvloop | 10,000 | 1.00 | 0.080 / 0.120 | 70% | 0.10 | 100 / 900 | True |",
        "| 1 | 0 | 4 | asyncio | 9,500 | 0.95 | 0.080 / 0.120 | 70% | 0.10 | 100 / 900 | True |",
        "| 4 | 0 | 8 | uvloop | 15,000 | 1.50 | 0.080 / 0.120 | 98% | 0.10 | 100 / 900 | True |",
    ]


def test_the_cluster_table_sets_three_brokers_against_the_single_node() -> None:
    raw = {"produce_only": {"msg_per_s": 60_000.0}, "pass_through": {"msg_per_s": 50_000.0}}
    three = {**_shape(1, 4, 8_000.0, 0.99), "machine_cpu_ms_per_request": 0.24}
    cluster = {
        "replication_factor": 3,
        "min_insync_replicas": 2,
        "produce_only": {"msg_per_s": 30_000.0},
        "pass_through": {"msg_per_s": 20_000.0},
        "dup90": three,
    }
    table = cluster_table(raw, _shape(1, 4, 10_000.0, 0.7), cluster)
    assert table[0] == "| measure | single node | three brokers (RF 3, min ISR 2) | three / single |"
    assert table[2:] == [
        "| aiokafka produce-only, msg/s | 60,000 | 30,000 | 0.50 |",
        "| consume -> produce pass-through, msg/s | 50,000 | 20,000 | 0.40 |",
        "| end to end, 1 worker, 90 % duplicates, req/s | 10,000 | 8,000 | 0.80 |",
        "| end to end vs pass-through | 0.200 | 0.400 | 2.00 |",
        "| CPU ms/req, ours | 0.080 | 0.080 | 1.00 |",
        "| CPU ms/req, whole machine | 0.120 | 0.240 | 2.00 |",
        "| cores busy | 70% | 99% | - |",
        "| complete | True | True | - |",
    ]


def test_the_rocksdb_note_tells_when_the_budget_filled_and_the_rss_from_then() -> None:
    # RSS 100 -> 150 while RocksDB fills its 64 MiB (full at 40 s of 100), then 150 -> 156
    samples = [[float(t), 100 + min(t, 40) * 1.25 + max(0, t - 40) * 0.1, 0.0, 0.0] for t in range(101)]
    use = [[float(t), min(64.0, t * 1.6)] for t in range(0, 101, 5)]
    e2e = {"process": samples, "rocksdb_cache_mib": use, "rocksdb_budget_mib": 64.0}
    (note, _) = rocksdb_note(e2e)
    assert "used at most 64 MiB of its 64 MiB budget; it first reached 95 % of it 40 s in (40% of the" in note
    assert "The RSS from then on: +4.0% (peak over the first sample from then)." in note
    e2e["rocksdb_cache_mib"] = [[0.0, 10.0], [50.0, 30.0]]
    assert rocksdb_note(e2e)[0].endswith("of its 64 MiB budget; it never reached 95 % of it.")
    assert rocksdb_note({**e2e, "rocksdb_cache_mib": []}) == []  # the memory store
    assert rocksdb_note({"process": samples}) == []  # a report from before the bench read it
