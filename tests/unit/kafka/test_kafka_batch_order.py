"""The order in which fetched records make a batch (`adapters/kafka/batching.py`).

Across partitions there is no order, so the batch takes records by producer time;
within one millisecond it takes marks, then intents, then reports (a report can
never be about an intent that comes after it). Each partition's own order always holds.
A batch stops before the last fetched time of a partition the broker has more of
(its next records may be earlier than what other partitions offer), unless that
would leave it empty.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from adapters.clock import SystemClock
from adapters.kafka.ingest import KafkaIngest
from adapters.kafka.settings import KafkaSettings
from adapters.kafka.threads import LedgerThread
from adapters.store import open_ledger
from domain.ledger import LedgerConfig

SETTINGS = KafkaSettings(
    bootstrap_servers="127.0.0.1:9",
    topic_order_intents="in_intents",  # names whose alphabetical order is no help
    topic_exec_reports="a_reports",
    topic_market_events="z_marks",
)


def record(topic: str, partition: int, offset: int, ms: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, partition, offset, ms, 0, None, b"", None, 0, 0, [])


def take(
    ingest: KafkaIngest, records: Sequence[ConsumerRecord[bytes, bytes]], size: int
) -> list[str]:
    for r in records:
        ingest.fetched.add({TopicPartition(r.topic, r.partition): [r]})
    assert ingest.fetched.count == len(records)
    taken = ingest._take(size)
    assert ingest.fetched.count == len(records) - len(taken)
    return names(taken)


class FakeConsumer:
    """What `KafkaIngest` asks of the client while it makes a batch."""

    def __init__(self, high: Mapping[TopicPartition, int | None]) -> None:
        self.high = dict(high)
        self.responses: list[dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]] = []

    async def getmany(
        self, timeout_ms: int = 0
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        return self.responses.pop(0) if self.responses else {}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.high.get(tp)


def fetched(
    records: Sequence[ConsumerRecord[bytes, bytes]],
) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    out: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
    for r in records:
        out.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
    return out


@pytest.fixture
def ingest(sqlite_url: str) -> Iterator[KafkaIngest]:
    app = open_ledger(sqlite_url, clock=SystemClock(), config=LedgerConfig())
    thread = LedgerThread()
    try:
        yield KafkaIngest(app, SETTINGS, thread)
    finally:
        thread.close()
        app.close()


def names(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[str]:
    return [f"{r.topic}:{r.partition}@{r.offset}" for r in records]


INTENTS, REPORTS = TopicPartition("in_intents", 0), TopicPartition("a_reports", 0)


def test_a_batch_stops_where_a_partition_with_more_on_the_broker_was_fetched_to(
    ingest: KafkaIngest,
) -> None:
    consumer = FakeConsumer({INTENTS: 10, REPORTS: 6})  # intents: 8 more on the broker
    ingest.assignment = frozenset({INTENTS, REPORTS})
    records = [
        record("in_intents", 0, 0, 1000),
        record("in_intents", 0, 1, 1001),
        *(record("a_reports", 0, i, 1000 + i) for i in range(6)),
    ]
    consumer.responses.append(fetched(records))
    asyncio.run(ingest._fetch(cast(AIOKafkaConsumer, consumer), 0))
    taken = ingest._take(100, consumer.highwater)
    assert names(taken) == ["in_intents:0@0", "a_reports:0@0", "in_intents:0@1", "a_reports:0@1"]
    assert ingest.fetched.count == 4
    # The intents partition is dry here and has more: the next batch waits for it.
    assert ingest._starved(cast(AIOKafkaConsumer, consumer)) == SETTINGS.linger_ms


def test_a_batch_never_stalls_on_the_bound(ingest: KafkaIngest) -> None:
    consumer = FakeConsumer({INTENTS: 10, REPORTS: 6})
    consumer.responses.append(fetched([record("in_intents", 0, 0, 900)]))
    consumer.responses.append(fetched([record("a_reports", 0, i, 1000 + i) for i in range(6)]))
    asyncio.run(ingest._fetch(cast(AIOKafkaConsumer, consumer), 0))
    assert names(ingest._take(100, consumer.highwater)) == ["in_intents:0@0"]
    asyncio.run(ingest._fetch(cast(AIOKafkaConsumer, consumer), 0))
    # Every waiting record is after the intents' bound (900): take the earliest anyway.
    assert len(ingest._take(3, consumer.highwater)) == 3


def test_first_batches_wait_for_partitions_that_have_delivered_nothing(
    ingest: KafkaIngest,
) -> None:
    consumer = FakeConsumer({REPORTS: 1})  # no fetch response for the intents yet
    ingest.assignment = frozenset({INTENTS, REPORTS})
    ingest._first_fetch_until = time.monotonic() + 60  # just assigned
    consumer.responses.append(fetched([record("a_reports", 0, 0, 1000)]))
    asyncio.run(ingest._fetch(cast(AIOKafkaConsumer, consumer), 0))
    starved = ingest._starved(cast(AIOKafkaConsumer, consumer))
    assert SETTINGS.poll_timeout_ms < starved <= 60_000
    consumer.high[INTENTS] = 3  # it answers: records on the broker, none fetched yet
    assert ingest._starved(cast(AIOKafkaConsumer, consumer)) > SETTINGS.poll_timeout_ms
    consumer.high[INTENTS] = 0  # an empty partition: nothing to wait for
    assert ingest._starved(cast(AIOKafkaConsumer, consumer)) == 0


def test_later_batches_wait_for_a_dry_partition_once(ingest: KafkaIngest) -> None:
    consumer = FakeConsumer({REPORTS: 1})
    ingest.assignment = frozenset({INTENTS, REPORTS})  # assigned a poll timeout ago
    consumer.responses.append(fetched([record("a_reports", 0, 0, 1000)]))
    asyncio.run(ingest._fetch(cast(AIOKafkaConsumer, consumer), 0))
    # A partition that never answers slows no batch.
    assert ingest._starved(cast(AIOKafkaConsumer, consumer)) == 0
    consumer.high[INTENTS] = 3
    assert ingest._starved(cast(AIOKafkaConsumer, consumer)) == SETTINGS.linger_ms
    assert ingest._starved(cast(AIOKafkaConsumer, consumer), again=True) == 0


def test_same_millisecond_takes_marks_then_intents_then_reports(ingest: KafkaIngest) -> None:
    records = [
        record("a_reports", 0, 0, 1000),
        record("a_reports", 0, 1, 1000),
        record("in_intents", 1, 0, 1000),
        record("z_marks", 0, 0, 1000),
    ]
    assert take(ingest, records, 10) == [
        "z_marks:0@0",
        "in_intents:1@0",
        "a_reports:0@0",
        "a_reports:0@1",
    ]


def test_producer_time_comes_first_and_each_partition_keeps_its_order(
    ingest: KafkaIngest,
) -> None:
    records = [
        record("a_reports", 0, 0, 999),  # earlier than the intent: taken first
        record("a_reports", 0, 1, 1001),
        record("in_intents", 0, 0, 1000),
        record("in_intents", 0, 1, 990),  # a clock step back: still after offset 0
        record("z_marks", 1, 5, 1001),
    ]
    assert take(ingest, records, 4) == [
        "a_reports:0@0",
        "in_intents:0@0",
        "in_intents:0@1",
        "z_marks:1@5",
    ]
