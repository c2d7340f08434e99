"""The publishers' partitioner picks the partition Kafka's default partitioner picks."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from adapters.kafka.partitioner import CachingPartitioner, murmur2


@given(st.binary(max_size=200))
def test_murmur2_equals_aiokafkas(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


def test_murmur2_known_value_of_the_java_client() -> None:
    # org.apache.kafka.common.utils.Utils.murmur2("21".getBytes()) == -973932308
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=64))
def test_partition_of_a_key_is_the_default_partitioners(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    partitioner = CachingPartitioner()
    assert partitioner(key, partitions) == expected
    assert partitioner(key, partitions) == expected  # remembered


def test_the_cache_is_bounded() -> None:
    partitioner = CachingPartitioner()
    partitioner.LIMIT = 10
    for i in range(25):
        partitioner(b"key-%d" % i, [0, 1, 2])
    assert len(partitioner._cache) <= 10
