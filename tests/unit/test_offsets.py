"""OffsetTracker: the commit offset never passes an offset that was not received and finished."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from linguaflow.streams.offsets import OffsetTracker

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


def test_a_transaction_marker_is_a_hole_the_commit_passes() -> None:
    """Offsets 0-1 are records, 2 is a commit marker, 3-5 records of the next transaction."""
    tracker = OffsetTracker()
    tracker.begin(TP, 0)
    holes = tracker.fetched(TP, [0, 1, 3, 4, 5], position=6)
    assert [(h.start, h.end, h.leading) for h in holes] == [(2, 3, False)]
    for offset in (0, 1, 3, 4, 5):
        assert tracker.receive(TP, offset)
    for offset in (3, 4, 5, 0, 1):
        tracker.finished(TP, offset)
    assert tracker.gaps == 0
    assert tracker.first_missing(TP) is None
    assert tracker.commit_offset(TP) == 6


def test_a_trailing_marker_seen_only_in_the_position_is_committed_past() -> None:
    tracker = OffsetTracker()
    tracker.begin(TP, 0)
    tracker.fetched(TP, [0, 1], position=2)
    for offset in (0, 1):
        tracker.receive(TP, offset)
        tracker.finished(TP, offset)
    assert tracker.commit_offset(TP) == 2
    holes = tracker.fetched(TP, [], position=3)  # a fetch that returned only the marker
    assert [(h.start, h.end) for h in holes] == [(2, 3)]
    assert tracker.commit_offset(TP) == 3  # lag 0 once everything before it is finished


def test_an_aborted_transaction_and_its_marker_are_one_hole() -> None:
    tracker = OffsetTracker()
    tracker.begin(TP, 100)
    holes = tracker.fetched(TP, [100, 201], position=202)  # 101..199 aborted, 200 the abort marker
    assert [(h.start, h.end) for h in holes] == [(101, 201)]
    tracker.receive(TP, 100)
    tracker.receive(TP, 201)
    tracker.finished(TP, 201)
    assert tracker.commit_offset(TP) == 100  # 100 still unfinished: the hole waits behind it
    tracker.finished(TP, 100)
    assert tracker.commit_offset(TP) == 202


def test_a_log_start_moved_past_the_committed_offset_is_a_leading_hole() -> None:
    tracker = OffsetTracker()
    tracker.begin(TP, 10)  # committed 10; retention deleted everything below 500
    holes = tracker.fetched(TP, [500, 501], position=502)
    assert [(h.start, h.end, h.leading) for h in holes] == [(10, 500, True)]
    for offset in (500, 501):
        tracker.receive(TP, offset)
        tracker.finished(TP, offset)
    assert tracker.gaps == 0
    assert tracker.commit_offset(TP) == 502


def test_records_fetched_but_not_processed_are_never_holes() -> None:
    """A batch cut short by a rebalance: 0-1 processed, 2-3 fetched and dropped; the position
    moved to 4. The next fetch starts at 4: 2-3 are a gap to read again, not a hole."""
    tracker = OffsetTracker()
    tracker.begin(TP, 0)
    assert tracker.fetched(TP, [0, 1, 2, 3], position=4) == []
    for offset in (0, 1):
        tracker.receive(TP, offset)
        tracker.finished(TP, offset)
    assert tracker.fetched(TP, [4, 5], position=6) == []
    assert tracker.receive(TP, 4)
    tracker.finished(TP, 4)
    assert tracker.gaps == 1
    assert tracker.first_missing(TP) == 2
    assert tracker.commit_offset(TP) == 2  # never past what was fetched and not finished
    tracker.seeked(TP, 2)
    assert tracker.fetched(TP, [2, 3, 4, 5], position=6) == []
    for offset in (2, 3):
        assert tracker.receive(TP, offset)
        tracker.finished(TP, offset)
    assert not tracker.receive(TP, 4)  # received already
    assert tracker.receive(TP, 5)
    tracker.finished(TP, 5)
    assert tracker.commit_offset(TP) == 6


def test_reading_begun_at_a_record_finds_no_holes_until_a_fetch_position_is_known() -> None:
    tracker = OffsetTracker()
    assert tracker.fetched(TP, [7, 8], position=9) == []  # not begun: the first record begins it
    tracker.receive(TP, 7)
    tracker.receive(TP, 8)
    assert tracker.fetched(TP, [10], position=11) == []  # where this fetch began is unknown ...
    assert tracker.fetched(TP, [12], position=13) != []  # ... from here on it is
    assert tracker.commit_offset(TP) == 7


@given(
    log=st.lists(st.sampled_from(["record", "marker"]), min_size=1, max_size=60),
    fetch_sizes=st.lists(st.integers(1, 10), min_size=1, max_size=30),
    cut=st.integers(0, 60),
    finish_order=st.randoms(),
)
def test_commit_never_passes_a_record_fetched_but_not_finished(
    log: list[str], fetch_sizes: list[int], cut: int, finish_order: Any
) -> None:
    """A log of records and markers read in fetches of random sizes; the handler stops at record
    ``cut`` (a rebalance) and finishes what it received in random order."""
    tracker = OffsetTracker()
    tracker.begin(TP, 0)
    records = [o for o, kind in enumerate(log) if kind == "record"]
    position, received = 0, []
    sizes = iter(fetch_sizes)
    while position < len(log):
        size = next(sizes, 10)
        fetch = [o for o in records if position <= o][:size]
        position = fetch[-1] + 1 if fetch and len(fetch) == size else len(log)
        tracker.fetched(TP, fetch, position)
        received += [o for o in fetch if o < cut and tracker.receive(TP, o)]
    finish_order.shuffle(received)
    for offset in received:
        tracker.finished(TP, offset)
    commit = tracker.commit_offset(TP)
    assert commit is not None
    unfinished = [o for o in records if o not in received]
    assert all(commit <= o for o in unfinished)
    if not unfinished:
        assert commit == len(log)  # markers never hold the commit back
