"""The partitioner returns exactly what aiokafka's port of Kafka's Java one does."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference

from linguaflow.partitioner import default_partitioner, murmur2


def test_murmur2_matches_the_reference_for_every_length_and_tail() -> None:
    rnd = random.Random(7)
    for length in [*range(0, 70), 259, 260, 261, 1_000]:  # every tail size, and long keys
        for _ in range(25):
            data = rnd.randbytes(length)
            assert murmur2(data) == reference(data), (length, data)


def test_known_values_of_kafkas_murmur2() -> None:
    # Kafka's own test vectors (UtilsTest.testMurmur2).
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") == -790332482 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == -985981536 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-longer-string") == -1486304829 & 0xFFFFFFFF
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971 & 0xFFFFFFFF
    assert murmur2(bytes([ord("a"), ord("b"), ord("c")])) == 479470107


def test_partitions_like_aiokafkas_default_partitioner() -> None:
    rnd = random.Random(3)
    partitions, aiokafkas = [0, 1, 2, 3, 4, 5], DefaultPartitioner()
    for _ in range(2_000):
        key = rnd.randbytes(rnd.randrange(1, 80))
        assert default_partitioner(key, partitions, partitions) == aiokafkas(key, partitions, partitions)


def test_no_key_picks_an_available_partition_else_any() -> None:
    assert {default_partitioner(None, [0, 1, 2], [2]) for _ in range(50)} == {2}
    assert {default_partitioner(None, [0, 1, 2], []) for _ in range(200)} == {0, 1, 2}
