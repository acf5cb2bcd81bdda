"""The retention schedules in ops/ run gc, then cache evict --expired (test_ops.py checks that every
manifest and unit runs real commands)."""

from __future__ import annotations

import shlex

import yaml

from linguaflow.cli import build_parser
from linguaflow.settings import REPO_ROOT

OPS = REPO_ROOT / "ops"


def _runs(argv: list[str]) -> None:
    assert argv[0].endswith("linguaflow"), argv
    args = build_parser().parse_args(argv[1:])  # exits (fails the test) on an unknown command or flag
    assert callable(args.fn)


def test_the_cronjob_runs_real_commands() -> None:
    job = yaml.safe_load((OPS / "k8s" / "linguaflow-gc-cronjob.yaml").read_text())
    assert job["kind"] == "CronJob"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    commands = [c["command"] for c in pod["initContainers"] + pod["containers"]]
    assert [c[1] for c in commands] == ["gc", "cache"]
    for command in commands:
        _runs(command)


def test_the_systemd_service_runs_real_commands_and_its_timer_starts_it() -> None:
    service = (OPS / "systemd" / "linguaflow-gc.service").read_text()
    starts = [line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart=")]
    assert len(starts) == 2
    for start in starts:
        _runs(shlex.split(start))
    timer = (OPS / "systemd" / "linguaflow-gc.timer").read_text()
    assert "OnCalendar=" in timer
    assert "WantedBy=timers.target" in timer
