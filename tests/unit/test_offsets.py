"""OffsetTracker: the commit offset never passes an offset that was not received and finished."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.offsets import OffsetTracker

TP = ("keyed", 0)


def test_nothing_is_committed_before_the_first_record() -> None:
    tracker = OffsetTracker()
    assert tracker.commit_offset(TP) is None
    assert tracker.receive(TP, 10)
    assert tracker.commit_offset(TP) == 10  # reading began at 10; nothing finished yet


def test_out_of_order_finishes_commit_only_the_contiguous_prefix() -> None:
    tracker = OffsetTracker()
    for offset in range(10, 15):
        assert tracker.receive(TP, offset)
    tracker.finished(TP, 11)  # a cache hit answered at once
    tracker.finished(TP, 12)
    assert tracker.commit_offset(TP) == 10  # 10 (a miss) still waits for its provider call
    tracker.finished(TP, 10)
    assert tracker.commit_offset(TP) == 13
    tracker.finished(TP, 14)
    assert tracker.commit_offset(TP) == 13
    tracker.finished(TP, 13)
    assert tracker.commit_offset(TP) == 15


def test_a_single_unfinished_offset_at_the_head_holds_the_commit() -> None:
    # faust's own rule commits past exactly this case (its gap check is off by one).
    tracker = OffsetTracker()
    tracker.receive(TP, 0)
    tracker.receive(TP, 1)
    tracker.finished(TP, 1)
    assert tracker.commit_offset(TP) == 0


def test_skipped_records_stop_the_commit_until_they_are_read_again() -> None:
    tracker = OffsetTracker()
    tracker.receive(TP, 10)
    tracker.finished(TP, 10)
    assert tracker.receive(TP, 14)  # faust skipped 11..13 and delivered 14: processed, but ...
    tracker.finished(TP, 14)
    assert tracker.gaps == 1
    assert tracker.commit_offset(TP) == 11  # ... nothing is committed past the records never seen


def test_redeliveries_of_received_offsets_are_not_processed_twice() -> None:
    tracker = OffsetTracker()
    assert tracker.receive(TP, 0)
    assert not tracker.receive(TP, 0)


def test_forget_drops_revoked_partitions_and_reading_begins_again() -> None:
    tracker = OffsetTracker()
    other = ("keyed", 1)
    tracker.receive(TP, 5)
    tracker.receive(other, 7)
    assert sorted(tracker.partitions()) == sorted([TP, other])
    tracker.forget([TP])
    assert tracker.partitions() == [other]  # what faust considers for a commit
    assert tracker.commit_offset(TP) is None
    assert tracker.commit_offset(other) == 7
    assert tracker.receive(TP, 3)  # after the rebalance, from the committed offset
    assert tracker.commit_offset(TP) == 3


@given(
    count=st.integers(1, 50),
    skipped=st.sets(st.integers(1, 49)),
    finish_order=st.permutations(range(50)),
    finished_share=st.integers(0, 50),
)
def test_commit_never_passes_an_offset_not_both_received_and_finished(
    count: int, skipped: set[int], finish_order: list[int], finished_share: int
) -> None:
    tracker = OffsetTracker()
    processed = [o for o in range(count) if o not in skipped and tracker.receive(TP, o)]
    done = [o for o in finish_order if o in processed][:finished_share]
    for offset in done:
        tracker.finished(TP, offset)
    commit = tracker.commit_offset(TP)
    assert commit is not None
    assert all(o in done for o in range(commit))  # everything below the commit was finished
    assert commit == count or commit not in done  # and it stops at the first offset that was not


def test_skipped_records_read_again_are_processed_and_release_the_commit() -> None:
    tracker = OffsetTracker()
    for offset in (10, 14, 15):  # faust skipped 11..13
        assert tracker.receive(TP, offset)
        tracker.finished(TP, offset)
    assert tracker.first_missing(TP) == 11
    for offset in range(11, 16):  # after the seek back to 11: only 11..13 are new
        if tracker.receive(TP, offset):
            assert offset in (11, 12, 13)
            tracker.finished(TP, offset)
    assert tracker.first_missing(TP) is None
    assert tracker.commit_offset(TP) == 16


def test_records_skipped_before_the_first_delivered_one_hold_the_commit() -> None:
    tracker = OffsetTracker()
    tracker.begin(TP, 20)  # the consumer seeks to the committed offset 20 ...
    assert tracker.commit_offset(TP) == 20
    assert tracker.receive(TP, 23)  # ... and faust delivers 23 first: 20..22 were skipped
    tracker.finished(TP, 23)
    assert tracker.gaps == 1
    assert tracker.first_missing(TP) == 20
    assert tracker.commit_offset(TP) == 20


def test_begin_replaces_what_was_known_of_a_partition() -> None:
    tracker = OffsetTracker()
    tracker.receive(TP, 50)  # stale: read before the partition moved away and came back
    tracker.receive(TP, 57)
    tracker.begin(TP, 40)  # the committed offset its last owner left
    assert tracker.first_missing(TP) is None
    assert tracker.receive(TP, 40)  # records from 40 on are new again
    assert not tracker.receive(TP, 39)  # below the committed offset: done already
    tracker.finished(TP, 40)
    assert tracker.commit_offset(TP) == 41
