"""OffsetTracker: the commit offset never passes an offset that was received but not finished."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.offsets import OffsetTracker

TP = ("keyed", 0)


def test_nothing_received_means_nothing_to_commit() -> None:
    assert OffsetTracker().commit_offset(TP) is None


def test_out_of_order_finishes_commit_only_below_the_oldest_unfinished() -> None:
    tracker = OffsetTracker()
    for offset in range(10, 15):
        tracker.received(TP, offset)
    tracker.finished(TP, 11)  # a cache hit answered at once
    tracker.finished(TP, 12)
    assert tracker.commit_offset(TP) == 10  # 10 (a miss) still waits for its provider call
    tracker.finished(TP, 10)
    assert tracker.commit_offset(TP) == 13
    tracker.finished(TP, 13)
    tracker.finished(TP, 14)
    assert tracker.commit_offset(TP) == 15
    assert tracker.unfinished() == 0


def test_a_single_unfinished_offset_at_the_head_holds_the_commit() -> None:
    # faust's own rule commits past exactly this case (its gap check is off by one).
    tracker = OffsetTracker()
    tracker.received(TP, 0)
    tracker.received(TP, 1)
    tracker.finished(TP, 1)
    assert tracker.commit_offset(TP) == 0


def test_forget_drops_revoked_partitions_only() -> None:
    tracker = OffsetTracker()
    other = ("keyed", 1)
    tracker.received(TP, 5)
    tracker.received(other, 7)
    tracker.forget([TP])
    assert tracker.commit_offset(TP) is None
    assert tracker.commit_offset(other) == 7


@given(
    count=st.integers(1, 60),
    finish_order=st.permutations(range(60)),
    finished_share=st.integers(0, 60),
)
def test_commit_never_passes_an_unfinished_offset(
    count: int, finish_order: list[int], finished_share: int
) -> None:
    tracker = OffsetTracker()
    for offset in range(count):
        tracker.received(TP, offset)
    done = [o for o in finish_order if o < count][:finished_share]
    for offset in done:
        tracker.finished(TP, offset)
    commit = tracker.commit_offset(TP)
    assert commit is not None
    assert all(o in done for o in range(commit))  # everything below the commit is finished
    assert commit == count or commit not in done  # and it stops at the first unfinished one
