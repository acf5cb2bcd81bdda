"""OffsetTracker: the commit offset never passes an offset that was not received and finished."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.offsets import OffsetTracker, Verdict

TP = ("keyed", 0)


def started(at: int = 10) -> OffsetTracker:
    tracker = OffsetTracker()
    tracker.begin(TP, at)
    return tracker


def test_nothing_is_committed_before_reading_begins() -> None:
    assert OffsetTracker().commit_offset(TP) is None
    assert started(10).commit_offset(TP) == 10


def test_out_of_order_finishes_commit_only_the_contiguous_prefix() -> None:
    tracker = started(10)
    for offset in range(10, 15):
        assert tracker.receive(TP, offset) == Verdict(process=True)
    tracker.finished(TP, 11)  # a cache hit answered at once
    tracker.finished(TP, 12)
    assert tracker.commit_offset(TP) == 10  # 10 (a miss) still waits for its provider call
    tracker.finished(TP, 10)
    assert tracker.commit_offset(TP) == 13
    tracker.finished(TP, 14)
    assert tracker.commit_offset(TP) == 13
    tracker.finished(TP, 13)
    assert tracker.commit_offset(TP) == 15
    assert tracker.unfinished() == 0


def test_a_skipped_head_is_read_again_not_committed_past() -> None:
    # faust skipped 10..12 (flow control off) and delivers 13 first.
    tracker = started(10)
    assert tracker.receive(TP, 13) == Verdict(process=False, seek_to=10)
    assert tracker.receive(TP, 14) == Verdict(process=False)  # the seek is under way: no second one
    assert tracker.commit_offset(TP) == 10
    for offset in range(10, 15):  # after the seek, in order
        assert tracker.receive(TP, offset).process
        tracker.finished(TP, offset)
    assert tracker.commit_offset(TP) == 15


def test_redeliveries_below_the_expected_offset_are_not_processed_twice() -> None:
    tracker = started(0)
    assert tracker.receive(TP, 0).process
    assert tracker.receive(TP, 0) == Verdict(process=False)


def test_forget_drops_revoked_partitions_only() -> None:
    tracker = started(5)
    other = ("keyed", 1)
    tracker.begin(other, 7)
    tracker.forget([TP])
    assert tracker.commit_offset(TP) is None
    assert not tracker.started(TP)
    assert tracker.commit_offset(other) == 7


@given(
    count=st.integers(1, 50),
    skipped=st.sets(st.integers(0, 49)),
    finish_order=st.permutations(range(50)),
    finished_share=st.integers(0, 50),
)
def test_commit_never_passes_an_offset_not_both_received_and_finished(
    count: int, skipped: set[int], finish_order: list[int], finished_share: int
) -> None:
    tracker = started(0)
    processed = [o for o in range(count) if o not in skipped and tracker.receive(TP, o).process]
    done = [o for o in finish_order if o in processed][:finished_share]
    for offset in done:
        tracker.finished(TP, offset)
    commit = tracker.commit_offset(TP)
    assert commit is not None
    assert all(o in done for o in range(commit))  # everything below the commit was finished
    assert commit == count or commit not in done or commit not in processed
