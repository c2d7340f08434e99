"""Kafka -> ledger: one consumer group over the three input topics, offsets kept by the ledger.

Exactly-once effects come from the ledger, not from Kafka: each batch's events
and the (topic, partition, offset) of every message in it commit in ONE store
transaction (`LedgerApplication.process`, sources named `kafka:<topic>:<partition>`).
On start and on every assignment the consumer seeks to the ledger's positions
(`source_positions()` + 1), never to Kafka's committed offsets, which are written
afterwards for monitoring tools only. A crash between the store commit and the
Kafka commit therefore re-reads messages the ledger already has, and the ledger
drops them by position; a crash before the store commit loses nothing because
nothing was recorded.

A revocation waits for the batch in flight (`_lock`), so the next owner of a
partition starts after it. That is an economy, not the guarantee: if two
consumers ever process the same offsets, the store's optimistic concurrency
makes one of them decide again against the other's committed positions.

A poison message never blocks a partition: validation failures are quarantined
inside the batch's transaction, and an empty value (a tombstone) is just an
invalid payload.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from adapters.kafka.batching import FetchedRecords
from adapters.kafka.errors import ConsumerNotOpen
from adapters.kafka.settings import KafkaSettings
from adapters.kafka.threads import LedgerThread
from contracts import SourcedMessage
from domain.application import BatchSummary, LedgerApplication

log = logging.getLogger(__name__)

# How long a partition whose log is behind the ledger's position waits before the next try.
BEHIND_RETRY_S = 1.0
# Kafka's committed offsets are only for monitoring: commit them at most this often.
COMMIT_INTERVAL_S = 1.0
COMMIT_TIMEOUT_S = 5.0


def source_name(topic: str, partition: int) -> str:
    """The ledger's name for a Kafka partition (contracts/envelope.py)."""
    return f"kafka:{topic}:{partition}"


@dataclass(frozen=True)
class BatchReport:
    """One committed batch: what it held and what the ledger did with it."""

    records: int
    summary: BatchSummary
    position: int  # the ledger's last global position after the commit
    committed_at: float  # wall-clock seconds, right after the store commit
    produced_at_ms: tuple[int, ...] = field(repr=False)  # record timestamps (producer time)
    # The next offset of each partition once this batch is in the ledger (a snapshot:
    # `KafkaIngest.next_offsets` may already be ahead when the batch's hooks run).
    next_offsets: Mapping[TopicPartition, int] = field(default_factory=dict, repr=False)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ingest: KafkaIngest) -> None:
        self._ingest = ingest

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._ingest.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._ingest.on_assigned(assigned)


class KafkaIngest:
    def __init__(
        self,
        app: LedgerApplication,
        settings: KafkaSettings,
        thread: LedgerThread,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings
        self.thread = thread
        self._wall = wall
        self._monotonic = monotonic
        self.consumer: AIOKafkaConsumer | None = None
        # None until the group hands this member an assignment (possibly empty).
        self.assignment: frozenset[TopicPartition] | None = None
        self.next_offsets: dict[TopicPartition, int] = {}  # the ledger's position + 1
        self.lag: dict[tuple[str, int], int] = {}  # replaced, never mutated in place
        self.behind: dict[TopicPartition, float] = {}  # paused until (monotonic)
        self._lock = asyncio.Lock()
        self._committed_at = -math.inf
        # Fetched records not yet in a batch, and how a batch is picked from them.
        self.fetched = FetchedRecords((settings.topic_market_events, settings.topic_order_intents))
        # Until when (monotonic) a batch waits for partitions that have not delivered yet
        # after an assignment (`_starved`).
        self._first_fetch_until = 0.0

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            **s.client_options(),
            group_id=s.group_id,
            enable_auto_commit=False,
            # Never let the client jump on its own: an out-of-range position is handled
            # here (see `_out_of_range`), because jumping could skip or repeat input.
            auto_offset_reset="none",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            rebalance_timeout_ms=s.rebalance_timeout_ms,
            # Everything the client has fetched, not `batch_size`: the client fills that
            # from one partition before the next, so a backlog's batch could be all
            # exec_reports and its intents wait for the next one (every report held: an
            # event more, and decided twice). `_take` picks the batch across partitions;
            # what the client has fetched is bounded by its fetch sizes.
            max_poll_records=None,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
        )
        consumer.subscribe(topics=list(s.input_topics), listener=_Listener(self))
        self.consumer = consumer
        try:
            await consumer.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        consumer, self.consumer = self.consumer, None
        self.assignment = None
        self.lag = {}
        self.behind.clear()
        self.fetched.forget()
        if consumer is not None:
            try:
                await consumer.stop()
            except KafkaError as e:
                log.warning("closing the Kafka consumer: %s", e)

    # ------------------------------------------------------------------ rebalance

    async def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        consumer = self._consumer()
        tps = sorted(assigned)
        stored = await self.thread.run(self._refresh_positions)
        fresh = [tp for tp in tps if source_name(tp.topic, tp.partition) not in stored]
        beginnings: dict[TopicPartition, int] = {}
        if fresh:
            try:
                beginnings = await consumer.beginning_offsets(fresh)
            except KafkaError as e:
                log.warning("beginning offsets unknown (%s); starting new partitions at 0", e)
        for tp in tps:
            known = stored.get(source_name(tp.topic, tp.partition))
            offset = known + 1 if known is not None else beginnings.get(tp, 0)
            self._seek(consumer, tp, offset)
            self.next_offsets[tp] = offset
        self.assignment = frozenset(tps)
        self._first_fetch_until = self._monotonic() + self.settings.poll_timeout_ms / 1000
        log.info(
            "assigned %s; resuming at the ledger's offsets %s",
            [f"{tp.topic}:{tp.partition}" for tp in tps],
            {f"{tp.topic}:{tp.partition}": self.next_offsets[tp] for tp in tps},
        )

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self._lock:  # the batch in flight commits before the next owner starts
            await self.commit_offsets(force=True)
            self.assignment = None
            self.fetched.forget()
            gone = {(tp.topic, tp.partition) for tp in revoked}
            self.lag = {k: v for k, v in self.lag.items() if k not in gone}
            for tp in revoked:
                self.next_offsets.pop(tp, None)
                self.behind.pop(tp, None)

    def _refresh_positions(self) -> dict[str, int]:
        """The store's positions, which another instance may have advanced since we read."""
        stored = self.app.store.source_positions()
        sources = self.app.sources
        for src, pos in stored.items():
            if pos > sources.get(src, -1):
                sources[src] = pos
        return stored

    # ------------------------------------------------------------------ the batch cycle

    async def next_batch(self) -> list[ConsumerRecord]:
        """Up to `batch_size` records: wait up to the poll timeout for the first, then
        up to `linger_ms` more for the rest of the batch.

        The batch is the `batch_size` earliest records (by producer time) of everything
        fetched so far, across partitions; the rest wait for the next batch. Taking the
        client's records as they come would give a backlog's batch to whichever
        partitions answered first (all of exec_reports, say, and none of order_intents),
        and every report whose intent is in a later batch would be held and released:
        twice the events for the same input."""
        consumer = self._consumer()
        self._resume_due()
        s = self.settings
        if not self.fetched.count:
            await self._fetch(consumer, s.poll_timeout_ms)
        if self.fetched.count and self.fetched.count < s.batch_size and s.linger_ms:
            deadline = self._monotonic() + s.linger_ms / 1000
            while self.fetched.count < s.batch_size:
                left = deadline - self._monotonic()
                if left <= 0 or not await self._fetch(consumer, int(left * 1000) or 1):
                    break
        elif self.fetched.count < s.batch_size:
            await self._fetch(consumer, 0)  # whatever else has arrived, without waiting
        wait_ms = self._starved(consumer) if self.fetched.count else 0
        while wait_ms and self.fetched.count < 10 * s.batch_size:
            # A partition the broker has more of ran dry here (a backlog is read a fetch
            # at a time), or has delivered nothing yet (the first fetches after an
            # assignment): its records are due, and the batch waits a little for them
            # (`_bound`), rather than take the other partitions' records without them.
            await self._fetch(consumer, wait_ms)
            wait_ms = self._starved(consumer, again=True)
        return self._take(s.batch_size, consumer.highwater)

    async def _fetch(self, consumer: AIOKafkaConsumer, timeout_ms: int) -> int:
        """Add what the client has fetched (waiting up to `timeout_ms` for something) to
        the records waiting for a batch; returns how many were added."""
        try:
            batches = await consumer.getmany(timeout_ms=timeout_ms)
        except OffsetOutOfRangeError as e:
            await self._out_of_range(consumer, e.args[0] if e.args else {})
            return 0
        except NoOffsetForPartitionError as e:
            # The client looked for a committed offset while `on_assigned` was still
            # reading the ledger's; the seek there settles it. Seek again if it already ran.
            for tp in e.args:
                if isinstance(tp, TopicPartition) and tp in (self.assignment or ()):
                    self._seek(consumer, tp, self.next_offsets.get(tp, 0))
            return 0
        return self.fetched.add(batches)

    def _starved(self, consumer: AIOKafkaConsumer, *, again: bool = False) -> int:
        """How long to wait for more before a batch (ms; `FetchedRecords.starved`)."""
        return self.fetched.starved(
            self.assignment or (),
            consumer.highwater,
            self.next_offsets,
            self.behind,
            linger_ms=self.settings.linger_ms,
            first_ms_left=(self._first_fetch_until - self._monotonic()) * 1000,
            again=again,
        )

    def _take(
        self, size: int, highwater: Callable[[TopicPartition], int | None] | None = None
    ) -> list[ConsumerRecord]:
        return self.fetched.take(size, highwater, self.behind)

    def _seek(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        self.fetched.forget([tp])
        consumer.seek(tp, offset)

    async def process(self, records: Sequence[ConsumerRecord]) -> BatchReport | None:
        """Commit one batch to the ledger (events + offsets, one transaction)."""
        async with self._lock:
            consumer = self._consumer()
            current = consumer.assignment()
            messages: list[SourcedMessage] = []
            stamps: list[int] = []
            # Per partition of the batch: its source name and the next offset after it.
            # TopicPartition is a named tuple: a (topic, partition) tuple finds it.
            seen: dict[tuple[str, int], list[Any]] = {}
            nxt = self.next_offsets
            for r in records:
                key = (r.topic, r.partition)
                part = seen.get(key)
                if part is None:
                    # Records fetched before a revocation are not ours to apply any more.
                    ok = key in current
                    start = nxt.get(TopicPartition(*key), 0)
                    part = seen[key] = [source_name(*key) if ok else None, start]
                name = part[0]
                if name is None or r.offset < part[1]:
                    continue
                part[1] = r.offset + 1
                messages.append(
                    SourcedMessage(name, r.offset, r.value if r.value is not None else b"")
                )
                stamps.append(r.timestamp)
            if not messages:
                return None
            summary = await self.thread.run(self.app.process, messages)
            committed_at = self._wall()
            for (topic, partition), (name, end) in seen.items():
                tp = TopicPartition(topic, partition)
                if name is not None and end > nxt.get(tp, 0):
                    nxt[tp] = end
                    self.behind.pop(tp, None)
            return BatchReport(
                len(messages),
                summary,
                self.app.position,
                committed_at,
                tuple(stamps),
                dict(self.next_offsets),
            )

    async def commit_offsets(self, *, force: bool = False) -> None:
        """Kafka's committed offsets, for monitoring only (lag dashboards, kafka-consumer-groups):
        at most every COMMIT_INTERVAL_S (a broker round trip per batch would cost latency),
        and on revocation and graceful stop. Best effort: a failed one is simply redone."""
        consumer = self.consumer
        if consumer is None or not self.assignment:
            return
        now = self._monotonic()
        if not force and now - self._committed_at < COMMIT_INTERVAL_S:
            return
        self._committed_at = now
        offsets = {
            tp: OffsetAndMetadata(off, "")
            for tp, off in self.next_offsets.items()
            if tp in self.assignment
        }
        if not offsets:
            return
        try:
            # Bounded: with the broker gone, a commit would wait for a coordinator forever
            # (and this also runs on the way out).
            await asyncio.wait_for(consumer.commit(offsets), COMMIT_TIMEOUT_S)
        except (KafkaError, TimeoutError) as e:
            log.debug("monitoring offset commit skipped: %r", e)

    def update_lag(self) -> None:
        """Lag per partition from the high watermarks of the last fetch responses. A
        high watermark below the ledger's position means the partition's log is shorter
        than what the ledger has read (some brokers answer such a fetch with an empty
        result rather than an out-of-range error): flag it, the consumer waits there."""
        consumer = self.consumer
        if consumer is None or self.assignment is None:
            return
        lag: dict[tuple[str, int], int] = {}
        for tp in self.assignment:
            high = consumer.highwater(tp)
            if high is None:
                continue
            nxt = self.next_offsets.get(tp, 0)
            if high < nxt:
                self._note_behind(tp, nxt, math.inf)
            elif self.behind.get(tp) == math.inf:
                del self.behind[tp]
            lag[(tp.topic, tp.partition)] = max(high - nxt, 0)
        self.lag = lag  # swapped whole: other threads read it (metrics)

    def silence_s(self) -> float | None:
        """Seconds since the last fetch response for the stalest assigned partition."""
        consumer = self.consumer
        if consumer is None or not self.assignment:
            return None
        stamps = [consumer.last_poll_timestamp(tp) for tp in self.assignment]
        known = [int(s) for s in stamps if s is not None and s > 0]
        if len(known) < len(stamps):
            return None
        return max(self._wall() - min(known) / 1000, 0.0)

    # ------------------------------------------------------------------ out of range

    async def _out_of_range(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]
    ) -> None:
        """The fetch position is not in the partition's log any more, or not yet.

        Before the log start: retention deleted messages the ledger never read; they are
        gone, so log it loudly and carry on from the oldest one left. Beyond the log
        end: the broker lost data or the topic was recreated; the ledger's position is
        still the truth, so keep it and wait for the log to grow past it (a producer
        re-sending, a replica catching up). Never jump: either jump could skip input or
        apply it twice.
        """
        beginnings: dict[TopicPartition, int] = {}
        try:
            beginnings = await consumer.beginning_offsets(list(offsets))
        except KafkaError as e:
            log.warning("cannot read beginning offsets: %s", e)
        for tp, offset in offsets.items():
            start = beginnings.get(tp)
            if start is not None and offset < start:
                log.error(
                    "%s:%d offsets %d..%d were deleted before the ledger read them",
                    tp.topic,
                    tp.partition,
                    offset,
                    start - 1,
                )
                self._seek(consumer, tp, start)
                self.next_offsets[tp] = start
                continue
            self.fetched.forget([tp])
            consumer.pause(tp)
            self._note_behind(tp, offset, self._monotonic() + BEHIND_RETRY_S)

    def _note_behind(self, tp: TopicPartition, offset: int, retry_at: float) -> None:
        if tp not in self.behind:
            log.warning(
                "%s:%d log ends before the ledger's offset %d (broker data loss or "
                "topic recreated); waiting there for it",
                tp.topic,
                tp.partition,
                offset,
            )
        self.behind[tp] = retry_at

    def _resume_due(self) -> None:
        """Try the paused partitions again; each stays in `behind` (not ready) until a
        record from it is applied."""
        if not self.behind or self.consumer is None:
            return
        now = self._monotonic()
        assigned = self.assignment or frozenset()
        for tp, until in list(self.behind.items()):
            if until > now:
                continue
            self.behind[tp] = math.inf  # resumed: waiting to hear whether the log grew
            if tp in assigned:
                self._seek(self.consumer, tp, self.next_offsets.get(tp, 0))
                self.consumer.resume(tp)

    def _consumer(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            raise ConsumerNotOpen("the Kafka consumer is not open")
        return self.consumer
