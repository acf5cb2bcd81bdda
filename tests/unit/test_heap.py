import gc
from collections.abc import Iterator

import pytest

from linguaflow.heap import freeze_heap, heap_stats


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_freeze_heap_takes_the_live_objects_out_of_later_collections(unfrozen: None) -> None:
    survivor = [object()]  # tracked, alive across the freeze
    assert gc.get_freeze_count() == 0
    frozen = freeze_heap()
    assert frozen == gc.get_freeze_count() > 1000
    assert not any(o is survivor for o in gc.get_objects())  # no generation holds it any more
    made_after = [object()]
    assert any(o is made_after for o in gc.get_objects())


def test_heap_stats_reports_frozen_tracked_and_collections(unfrozen: None) -> None:
    before = heap_stats()
    gc.collect()
    after = heap_stats()
    assert before["frozen"] == 0
    assert len(after["tracked"]) == len(after["collections"]) == 3
    assert after["collections"][2] == before["collections"][2] + 1
