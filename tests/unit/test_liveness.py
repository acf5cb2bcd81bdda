"""Liveness: /health's answer, and the bound on how long a shutdown may keep the process alive."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import threading
from pathlib import Path

from linguaflow.health import Observed, not_ready_reasons
from linguaflow.liveness import EXIT_FATAL, Liveness, notify_systemd


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_shutdown_that_outlives_its_bound_ends_the_process_non_zero() -> None:
    ended = threading.Event()
    codes: list[int] = []

    def terminate(code: int) -> None:
        codes.append(code)
        ended.set()

    liveness = Liveness(shutdown_timeout_s=0.2, max_loop_lag_s=5, terminate=terminate)
    liveness.begin_shutdown("stopping")  # a SIGTERM drain that hangs
    assert ended.wait(5)
    assert codes == [1]  # it did not end by itself: not a clean exit


def test_a_fatal_error_during_a_drain_keeps_the_first_deadline_and_exits_non_zero() -> None:
    clock = Clock()
    codes: list[int] = []
    liveness = Liveness(shutdown_timeout_s=30, max_loop_lag_s=5, clock=clock, terminate=codes.append)
    liveness.begin_shutdown("stopping")
    clock.now += 20
    liveness.fatal("KafkaError()")
    assert liveness.exit_code == EXIT_FATAL
    assert liveness.shutdown_overdue_s() == 0
    clock.now += 11  # 31 s after the first call, not 30 s after the second
    assert liveness.shutdown_overdue_s() == 1
    assert liveness.problems() == ["shutdown 1.0 s past its 30 s bound"]


def test_health_fails_when_the_event_loop_runs_late() -> None:
    clock = Clock()
    liveness = Liveness(shutdown_timeout_s=30, max_loop_lag_s=5, clock=clock)
    assert liveness.problems() == []

    async def one_tick() -> None:
        task = asyncio.get_running_loop().create_task(liveness.watch_loop(interval_s=0.2))
        await asyncio.sleep(0)  # the watchdog asked to sleep at clock 1000 ...
        clock.now += 7  # ... and a blocking call held the loop for 7 s
        await asyncio.sleep(0.3)  # one wake-up, 7 s late by the clock
        problems.extend(liveness.problems())
        task.cancel()

    problems: list[str] = []
    asyncio.run(one_tick())
    assert len(problems) == 1
    assert problems[0] == "event loop 6.8 s late (limit 5 s)"  # 7 s, less the 0.2 s it meant to sleep


async def test_an_on_time_loop_is_healthy_and_pings_the_systemd_watchdog(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            liveness = Liveness(shutdown_timeout_s=30, max_loop_lag_s=5)
            task = asyncio.get_running_loop().create_task(liveness.watch_loop(interval_s=0.01))
            message = await asyncio.to_thread(server.recv, 100)
            task.cancel()
        finally:
            del os.environ["NOTIFY_SOCKET"]
    assert message == b"WATCHDOG=1"
    assert liveness.problems() == []


def test_no_notify_socket_sends_nothing() -> None:
    assert notify_systemd(b"WATCHDOG=1", "") is False


def test_ready_says_the_broker_is_unreachable_when_output_waits_past_the_request_timeout() -> None:
    base = Observed(
        stopping=False, recovered=True, rebalancing=False, assigned=4, database_ok=True, stalled=False
    )
    waiting = dataclasses.replace(base, output_waiting_s=31.0, output_wait_limit_s=30.0)
    assert not_ready_reasons(base) == []
    assert not_ready_reasons(waiting) == ["broker unreachable: output unacknowledged for 31 s"]
    silent = dataclasses.replace(base, broker_ok=False)  # an idle worker, the broker away or hung
    assert not_ready_reasons(silent) == ["broker unreachable: no answer to a metadata request within 2 s"]
