"""Ledger log -> Kafka: `ledger_events`, `dlq` and `risk_state`, each from its own checkpoint.

The publishers read the LOG, not in-memory callbacks, so a record that failed to
go out (broker away, process killed) is sent again on the next pass: at-least-once,
in log order per key. Each pass reads the log after the checkpoints, sends, waits
for every acknowledgement (acks=all), and only then moves the checkpoints. What
each outlet sends is in `outlets.py`.

The reads and checkpoint writes run on the publisher's own thread and database
connection (`CheckpointStore`), never on the ledger thread: a pass over batch N
overlaps with the decision and commit of batch N+1 (component.py).

Idempotent producers are not used: Tansu refuses InitProducerId, and duplicates
are expected anyway under at-least-once; the headers make them harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from adapters.kafka.checkpoints import CheckpointStore
from adapters.kafka.errors import KafkaAdapterError, PublisherNotOpen
from adapters.kafka.outlets import Outlet, OutRecord, default_outlets
from adapters.kafka.partitioner import CachingPartitioner
from adapters.kafka.settings import KafkaSettings
from adapters.kafka.threads import LedgerThread

log = logging.getLogger(__name__)

PAGE = 5000


class LogPublisher:
    """Publishes what the log holds beyond each outlet's checkpoint."""

    def __init__(
        self,
        settings: KafkaSettings,
        checkpoints: CheckpointStore,
        outlets: Sequence[Outlet] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        # Its own thread: the store work of a pass must not queue behind a ledger batch.
        self.thread = LedgerThread("ledger-publish")
        self.checkpoints = checkpoints
        self.outlets = list(outlets if outlets is not None else default_outlets(settings))
        self.positions: dict[str, int] = {}  # sent and acknowledged up to here
        self._saved: dict[str, int] = {}  # ... and written down up to here
        self._saved_at = -float("inf")
        self._monotonic = monotonic
        self.published: dict[str, int] = {o.name: 0 for o in self.outlets}
        self.producer: AIOKafkaProducer | None = None
        self._partitioner = CachingPartitioner()

    async def open(self) -> None:
        loaded = await self.thread.run(self.checkpoints.load, [o.name for o in self.outlets])
        # After a reconnect, what this process already had acknowledged still stands.
        self.positions = {n: max(p, self.positions.get(n, 0)) for n, p in loaded.items()}
        self._saved = dict(loaded)
        # Batches up to just under Kafka's default 1 MiB message limit: a broker round
        # trip per partition is the bound on throughput.
        producer = AIOKafkaProducer(
            **self.settings.client_options(),
            acks="all",
            enable_idempotence=False,
            linger_ms=2,
            max_batch_size=1_000_000,
        )
        self.producer = producer
        try:
            await producer.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()
        await self.save_checkpoints()

    async def save_checkpoints(self) -> None:
        """Write down what has been acknowledged since the last save (also on close)."""
        moved = {n: p for n, p in self.positions.items() if p > self._saved.get(n, 0)}
        if moved:
            await self.thread.run(self.checkpoints.save, moved)
            self._saved.update(moved)
        self._saved_at = self._monotonic()

    def shutdown(self) -> None:
        """Release the thread (after `close`, when the publisher will not be used again)."""
        self.thread.close()

    async def publish_pending(self) -> int:
        """Publish the log beyond the outlets' checkpoints, a page at a time: ONE read of
        the log per page, shared by the outlets (each takes the events of its topics
        beyond its own checkpoint), one send, then every checkpoint in one transaction.
        Returns the number of records sent."""
        sent = 0
        while True:
            count, full = await self._publish_page()
            sent += count
            if not full:
                return sent

    def lag(self, head: int) -> dict[str, int]:
        """Events in the log beyond each outlet's checkpoint (of any topic)."""
        return {o.name: max(head - self.positions.get(o.name, 0), 0) for o in self.outlets}

    async def _publish_page(self) -> tuple[int, bool]:
        after = min(self.positions.get(o.name, 0) for o in self.outlets)
        page, more = await self.thread.run(self.checkpoints.read_log, after, PAGE)
        if not page:
            return 0, False
        records: list[OutRecord] = []
        counts: dict[str, int] = {}
        for outlet in self.outlets:
            mine = self.positions.get(outlet.name, 0)
            wanted = outlet.topics
            render = outlet.render
            batch = [
                render(e)
                for e in page
                if e.position > mine and (wanted is None or e.topic in wanted)
            ]
            counts[outlet.name] = len(batch)
            records += batch
        if records:
            await self._send(records)
        for name, count in counts.items():
            self.published[name] += count
        # Every outlet has now seen the log up to the page's last event. The checkpoints
        # are written at most every `publish_checkpoint_interval_ms`, not per pass: each
        # write is a commit (an fsync, and on SQLite the write lock the ingest needs), and
        # a crash re-sends at most that interval's records, which at-least-once allows.
        reached = page[-1].position
        self.positions.update({o.name: reached for o in self.outlets})
        interval = self.settings.publish_checkpoint_interval_ms / 1000
        if self._monotonic() - self._saved_at >= interval:
            await self.save_checkpoints()
        return len(records), more

    async def _send(self, records: Sequence[OutRecord]) -> None:
        """Send and wait for every acknowledgement; raise the first failure.

        Records are grouped by partition (the default partitioner's choice for their
        key) and sent as whole record batches: per-record `send()` costs more than the
        rest of publishing together, and batches of one partition go out in order.
        """
        producer = self.producer
        if producer is None:
            raise PublisherNotOpen("the Kafka producer is not open")
        groups: dict[tuple[str, int], list[OutRecord]] = {}
        partitions: dict[str, list[int]] = {}
        for r in records:
            parts = partitions.get(r.topic)
            if parts is None:
                parts = partitions[r.topic] = sorted(await producer.partitions_for(r.topic))
            groups.setdefault((r.topic, self._partitioner(r.key, parts)), []).append(r)
        deliveries: list[asyncio.Future[Any]] = []
        for (topic, partition), group in groups.items():
            for batch in self._batches(producer, group):
                delivery = await producer.send_batch(batch, topic, partition=partition)
                # Read below, or dropped with a failed pass (the checkpoint stays); either
                # way asyncio must not report it as never retrieved.
                delivery.add_done_callback(_retrieved)
                deliveries.append(delivery)
        for delivery in deliveries:
            await asyncio.wait([delivery])
            failure = delivery.exception()
            if failure is not None:
                raise failure

    @staticmethod
    def _batches(producer: AIOKafkaProducer, group: Sequence[OutRecord]) -> Iterator[Any]:
        batch = producer.create_batch()
        for r in group:
            if batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers):
                continue
            if batch.record_count() == 0:
                raise RecordTooLarge(f"a record for {r.topic} does not fit in one batch")
            yield batch
            batch = producer.create_batch()
            batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)
        if batch.record_count():
            yield batch


class RecordTooLarge(KafkaAdapterError):
    """A record larger than the producer's batch size (1 MB): it can never be sent."""


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
