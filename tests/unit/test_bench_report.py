"""The benchmark report's RSS rules: peak over the first sample, and the same once start-up is over."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.infra import keep_dir
from bench.report import rss_drift, rss_drift_settled, shape_note

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
    note = " ".join(shape_note(raw, {"dup90": {"requests_per_s": 10_000.0}}))
    assert "moves 48,000 msg/s, 0.60 of the pass-through" in note
    assert "end to end at 90 % duplicates is 0.21 of it" in note
