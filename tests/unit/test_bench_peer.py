"""The comparison with the Quix Streams build: the steady rate, the table of both systems from one
run, and its targets (1.5x the peer's requests/s with less CPU per request, at each ratio)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.peer import steady_rate
from bench.report import peer_targets
from bench.report_peer import peer_table, stages_table
from bench.stages import LINGUAFLOW, LINGUAFLOW_LAYERS, OWN_WORK, QUIX, layers, split


def test_the_steady_rate_runs_from_ten_to_ninety_percent_of_the_rows() -> None:
    # start-up: nothing for 5 s, then 100 rows/s
    series = [(0.0, 0), *((5.0 + t, 100 * t) for t in range(1, 11))]
    assert steady_rate(series, 1000) == 100.0
    assert steady_rate([(0.0, 0), (1.0, 50)], 1000) is None  # never reached 90 %


def _system(req_s: float, cpu_total_ms: float) -> dict[str, Any]:
    return {
        "requests_per_s": req_s,
        "steady_requests_per_s": req_s * 1.2,
        "first_row_s": 2.0,
        "cpu_ms_per_request": {
            "own": cpu_total_ms / 2,
            "broker": cpu_total_ms / 4,
            "postgres": cpu_total_ms / 4,
            "total": cpu_total_ms,
        },
        "machine_cpu_ms_per_request": cpu_total_ms * 1.1,
    }


def _peer(lf: tuple[float, float], qx: tuple[float, float]) -> dict[str, Any]:
    run = {
        "dup_ratio": 0.9,
        "unique_keys": 100,
        "translations": {"linguaflow": 100, "quix": 100},
        "linguaflow": _system(*lf),
        "quix": _system(*qx),
        "speedup": lf[0] / qx[0],
        "cpu_ratio": lf[1] / qx[1],
    }
    return {"peer90": run}


def test_the_target_needs_both_the_rate_and_less_cpu() -> None:
    (passed,) = peer_targets(_peer((3000, 0.4), (1500, 0.5)))
    assert passed.passed
    assert passed.ratio == 2.0
    assert passed.measured == "3000 vs 1500 req/s; 400 vs 500 µs CPU/request"
    (slow,) = peer_targets(_peer((2000, 0.4), (1500, 0.5)))
    assert not slow.passed  # 1.33x
    (costly,) = peer_targets(_peer((3000, 0.6), (1500, 0.5)))
    assert not costly.passed


def test_the_table_gives_both_systems_and_their_ratio() -> None:
    table = peer_table(_peer((3000, 0.4), (1500, 0.5)))
    assert "| 90% | linguaflow | 3,000 | 3,600 | 2.0 | 200 / 100 / 100 / 400 | 440 | 100 / 100 |" in table
    assert "| 90% | quix | 1,500 |" in table
    assert "**2.00x**" in table
    assert "CPU 0.80x" in table


def test_a_sample_goes_to_the_innermost_frame_that_names_a_stage() -> None:
    raw = "\n".join(
        [
            "run (streams/upstream.py:10);_rekey (streams/app.py:5);"
            "request_from_dict (schemas/request.py:70) 6",
            "run (streams/upstream.py:10);send (aiokafka/producer/producer.py:1) 3",
            "run (streams/upstream.py:10);getmany (aiokafka/consumer/consumer.py:9) 1",
            "select (selectors.py:1) 10",
            "garbage line",
        ]
    )
    assert split(raw, LINGUAFLOW) == {
        "other": 0.5,
        "decode and validate": 0.3,
        "produce": 0.15,
        "consume": 0.05,
    }
    quix = "run (quixstreams/app.py:1);translate (bench/quix_pipeline.py:50);get (quixstreams/state/x.py:1) 4"
    assert split(quix, QUIX) == {"state": 1.0}
    assert split("", QUIX) == {}


def test_linguaflows_stages_sum_into_layers() -> None:
    raw = "\n".join(
        [
            "run (mode/worker.py:264);_rekey (streams/app.py:5) 2",
            "run (mode/worker.py:264);_dedup_here (streams/app.py:9);get (streams/cache_disk.py:135) 2",
            "run (mode/worker.py:264);copy (asyncpg/conn.py:1);_write (linguaflow/sinks/pg.py:3) 1",
            "run (mode/worker.py:264);_write (linguaflow/sinks/pg.py:3);copy (asyncpg/conn.py:1) 1",
            "run (mode/threads.py:211);_drain (streams/upstream.py:300) 1",
            "run (mode/threads.py:211) 2",
            "main (cli.py:1);_find_and_load (<frozen importlib._bootstrap>:1) 1",
        ]
    )
    stages = split(raw, LINGUAFLOW)
    assert stages == {
        "agents": 0.2,
        "results and cache": 0.2,
        "other": 0.2,
        "sink": 0.1,
        "postgres client": 0.1,
        "faust": 0.1,
        "start-up": 0.1,
    }
    assert layers(stages, LINGUAFLOW_LAYERS) == {
        OWN_WORK: 0.5,
        "Kafka and Postgres clients, event loops": pytest.approx(0.3),
        "faust's fetch path": 0.1,
        "start-up": 0.1,
    }
    run = _peer((3000, 0.4), (1500, 0.5))
    run["peer90"]["linguaflow"]["stages"] = stages
    table = stages_table(run)
    assert "- 90% linguaflow (200 µs/request): agents 40, results and cache 40, other 40," in table
    assert "  - by layer: linguaflow's own work 100, Kafka and Postgres clients, event loops 60," in table
