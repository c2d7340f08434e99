"""Which fetched records make the next batch (`KafkaIngest.next_batch`).

Records the client has fetched wait here, per partition in offset order, until a batch
takes them. Across partitions Kafka gives no order, so a batch takes the earliest by
producer time (a merge that keeps each partition's own order, which is what makes this
safe): an intent produced before its report is then usually applied first, as it
happened, rather than held and released (an event more, and decided twice).

Within one millisecond (an order plane sends an intent and the broker's first report in
the same one) the merge, which takes equal keys from the earlier queue first, takes
marks, then intents, then reports: a report never precedes its own intent (at 5,000
messages/s in small batches the other order held 9 reports in 10), and a mark is seen
before an intent of the same instant, as the kill switch would want. Input topic names
are configurable, hence ranks rather than names.

A backlog is read a fetch at a time, and a fetch covers fewer of the larger reports
than of the intents: a batch therefore stops before the last fetched producer time of a
partition the broker has more of (`bound`), and waits a little for a partition that ran
dry here while the broker has more (`starved`), unless that would leave it empty.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

Highwater = Callable[[TopicPartition], int | None]


def _produced_at(record: ConsumerRecord) -> int:
    return int(record.timestamp)


class FetchedRecords:
    def __init__(self, tie_topics: Sequence[str]) -> None:
        # Records with the same producer time are taken in this topic order; others last.
        self._rank = {topic: rank for rank, topic in enumerate(tie_topics)}
        self.queues: dict[TopicPartition, deque[ConsumerRecord]] = {}
        self.count = 0
        # Per partition: the offset after the last record fetched, and that record's
        # producer time (`bound`).
        self.frontier: dict[TopicPartition, tuple[int, int]] = {}

    def add(self, batches: Mapping[TopicPartition, Sequence[ConsumerRecord]]) -> int:
        """Keep what a fetch returned; returns how many records were added."""
        added = 0
        for tp, records in batches.items():
            if not records:
                continue
            queue = self.queues.get(tp)
            if queue is None:
                queue = self.queues[tp] = deque()
            queue.extend(records)
            added += len(records)
            last = records[-1]
            self.frontier[tp] = (last.offset + 1, int(last.timestamp))
        self.count += added
        return added

    def forget(self, tps: Iterable[TopicPartition] | None = None) -> None:
        """Drop waiting records (all, or of `tps`): after a seek, an assignment or a
        revocation they may no longer follow the partition's position."""
        if tps is None:
            self.queues.clear()
            self.frontier.clear()
        else:
            for tp in tps:
                self.queues.pop(tp, None)
                self.frontier.pop(tp, None)
        self.count = sum(len(q) for q in self.queues.values())

    def starved(
        self,
        assignment: Iterable[TopicPartition],
        highwater: Highwater,
        next_offsets: Mapping[TopicPartition, int],
        skip: Collection[TopicPartition],
        *,
        linger_ms: int,
        first_ms_left: float,
        again: bool = False,
    ) -> int:
        """How long to wait for more before a batch (ms; 0: not at all). An assigned
        partition (not in `skip`) that has nothing waiting here but more on the broker
        waits `linger_ms`, once per batch (`again`: it has waited). While `first_ms_left`
        (the first poll timeout after an assignment), a partition that has delivered
        nothing yet (no fetch response, or records on the broker but none fetched: the
        first batches of a backlog) waits that long; never longer, so a partition that
        never answers slows no batch after."""
        wait = 0
        for tp in assignment:
            if self.queues.get(tp) or tp in skip:
                continue
            high = highwater(tp)
            fetched = self.frontier.get(tp)
            end = fetched[0] if fetched is not None else next_offsets.get(tp, 0)
            if first_ms_left > 0 and (high is None or (fetched is None and high > end)):
                return max(int(first_ms_left), 1)
            if high is not None and high > end and not again:
                wait = linger_ms or 1
        return wait

    def bound(self, highwater: Highwater, skip: Collection[TopicPartition] = ()) -> int | None:
        """The latest producer time a batch may take now: the earliest last-fetched time of
        the partitions that have more on the broker than was fetched. Beyond it such a
        partition may still hold earlier records: taking past it would take reports whose
        intents are in the next fetch, and hold them all."""
        bound: int | None = None
        for tp, (end, stamp) in self.frontier.items():
            if tp in skip:
                continue
            high = highwater(tp)
            if high is not None and high > end and (bound is None or stamp < bound):
                bound = stamp
        return bound

    def take(
        self,
        size: int,
        highwater: Highwater | None = None,
        skip: Collection[TopicPartition] = (),
    ) -> list[ConsumerRecord]:
        """The `size` earliest waiting records (module docstring), no later than `bound`
        when `highwater` is given, unless none is."""
        rank = self._rank
        queues = [
            q
            for _, q in sorted(
                self.queues.items(), key=lambda kv: (rank.get(kv[0].topic, len(rank)), kv[0])
            )
            if q
        ]
        if not queues:
            return []
        bound = self.bound(highwater, skip) if highwater is not None else None
        merged = heapq.merge(*queues, key=_produced_at)
        if bound is None:
            taken = list(itertools.islice(merged, size))
        else:
            taken = list(
                itertools.islice(itertools.takewhile(lambda r: r.timestamp <= bound, merged), size)
            )
            if not taken:  # nothing before the bound: never stall, take the earliest anyway
                merged.close()
                merged = heapq.merge(*queues, key=_produced_at)
                taken = list(itertools.islice(merged, size))
        merged.close()
        # The merge took a prefix of each partition's queue: drop exactly those.
        for key, count in Counter((r.topic, r.partition) for r in taken).items():
            queue = self.queues[TopicPartition(*key)]
            for _ in range(count):
                queue.popleft()
        self.count -= len(taken)
        return taken
