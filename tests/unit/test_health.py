"""Readiness rules and stall detection (pure, clock passed in)."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import replace

import pytest

from linguaflow.health import Observed, RecentAnswer, StallWatch, not_ready_reasons, read_progress

READY = Observed(
    stopping=False, recovered=True, rebalancing=False, assigned=4, database_ok=True, stalled=False
)


def test_ready_when_everything_holds() -> None:
    assert not_ready_reasons(READY) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"stopping": True}, "shutting down"),
        ({"recovered": False}, "cache table recovering"),
        ({"rebalancing": True}, "rebalancing"),
        ({"assigned": 0}, "no partitions assigned"),
        ({"database_ok": False}, "database unreachable"),
        ({"stalled": True}, "consumer stalled: input waiting but no offset moved"),
    ],
)
def test_each_failing_check_is_named(change: dict[str, object], reason: str) -> None:
    assert not_ready_reasons(replace(READY, **change)) == [reason]  # type: ignore[arg-type]


def test_stall_needs_unread_input_and_no_progress_for_the_whole_window() -> None:
    watch = StallWatch(after_ms=1000)
    assert watch.update(0, {"t:0": 5}, unread=3) is False  # first sight starts the window
    assert watch.update(999, {"t:0": 5}, unread=3) is False
    assert watch.update(1000, {"t:0": 5}, unread=3) is True
    assert watch.update(1500, {"t:0": 6}, unread=3) is False  # an offset moved: window restarts
    assert watch.update(2499, {"t:0": 6}, unread=3) is False
    assert watch.update(2500, {"t:0": 6}, unread=3) is True


def test_no_unread_input_is_never_a_stall() -> None:
    watch = StallWatch(after_ms=10)
    for now in range(0, 1000, 100):
        assert watch.update(now, {"t:0": 5}, unread=0) is False
    assert watch.update(1000, {"t:0": 5}, unread=1) is False  # input arrives: a new window starts
    assert watch.update(1010, {"t:0": 5}, unread=1) is True


TP = namedtuple("TP", "topic partition")


def test_progress_counts_what_waits_past_the_last_read_offset_of_each_known_partition() -> None:
    a, b, c, d = TP("t", 0), TP("t", 1), TP("t", 2), TP("u", 0)
    read = {a: 4, b: 9, c: 3}.get  # d: nothing read yet
    high = {a: 10, b: 10, d: 7}.get  # c: no fetch answered yet
    assert read_progress([a, b, c, d], read, high) == ({"t:0": 4, "t:1": 9}, 5)


async def test_a_recent_answer_is_reused_for_its_ttl_then_asked_again() -> None:
    now = [0.0]
    answers = iter([True, False])
    asked = []

    async def ask() -> bool:
        asked.append(now[0])
        return next(answers)

    recent = RecentAnswer(ttl_ms=1000, clock=lambda: now[0])
    assert await recent.get(ask) is True
    now[0] = 999
    assert await recent.get(ask) is True  # within the TTL: not asked again
    now[0] = 1000
    assert await recent.get(ask) is False  # the TTL is up: asked, and the new answer kept
    now[0] = 1500
    assert await recent.get(ask) is False
    assert asked == [0, 1000]
