import gc
from collections.abc import Iterator

import pytest

from linguaflow.heap import WORKER_THRESHOLDS, freeze_heap, heap_stats, settle_worker_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_freeze_heap_takes_the_live_objects_out_of_later_collections(unfrozen: None) -> None:
    survivor = [object()]  # tracked, alive across the freeze
    assert gc.get_freeze_count() == 0
    frozen = freeze_heap()
    assert frozen == gc.get_freeze_count() > 1000
    assert not any(o is survivor for o in gc.get_objects())  # no generation holds it any more
    made_after = [object()]
    assert any(o is made_after for o in gc.get_objects())


def test_heap_stats_reports_frozen_tracked_and_collections(unfrozen: None) -> None:
    before = heap_stats(0)
    gc.collect()
    after = heap_stats(1234)
    assert (before["frozen"], after["frozen"]) == (0, 1234)
    assert len(after["tracked"]) == len(after["collections"]) == 3
    assert after["collections"][2] == before["collections"][2] + 1


def test_a_settled_worker_heap_is_frozen_and_collected_less_often(unfrozen: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert settle_worker_heap() == gc.get_freeze_count() > 1000
    assert gc.get_threshold() == WORKER_THRESHOLDS
    assert heap_stats(0)["thresholds"] == list(WORKER_THRESHOLDS)
