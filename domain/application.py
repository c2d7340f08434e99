"""The Ledger application: one eventsourcing Application for every aggregate.

It keeps the `Ledger` (all aggregates) in memory, caught up from the log, and
commits each batch of inputs in one transaction: the events of every message
in it, and where each input came from (file/line, topic/partition/offset). A
rerun therefore resumes after the last committed input and never applies one
twice; the domain's own idempotency (intent ids, execution ids) catches the
duplicates that arrive from elsewhere.

Writers use optimistic concurrency on the whole log: the batch names the
position it was decided at, and the recorder refuses it if anything was
appended since. The application then rebuilds its state and decides again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from contracts import ContractMessage, ContractValidationError, SourcedMessage, parse_message
from domain import events as ev
from domain.clock import Clock
from domain.codec import LedgerMapper
from domain.errors import ConfigurationError
from domain.killswitch import KillSwitchCommand
from domain.ledger import Ledger, LedgerConfig, Operator, Outcome
from domain.ports import ConcurrentWriteError, LedgerRecorder

PAGE = 20_000
MAX_RETRIES = 5


@dataclass(slots=True)
class ParsedMessage:
    """An input already validated (an in-process producer: the backtest engine, a broker
    adapter); it is tracked by source and position exactly like raw input.

    Immutable by contract, not `frozen` (a backtest builds one per bar, and a frozen
    dataclass's `__init__` costs twice as much)."""

    source: str
    position: int
    message: ContractMessage


@dataclass(slots=True)
class BatchSummary:
    read: int = 0
    applied: int = 0
    duplicates: int = 0
    anomalies: int = 0
    held: int = 0
    quarantined: int = 0
    events: int = 0

    def add(self, other: BatchSummary) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in self.__dataclass_fields__}


# Where decide() counts each outcome (a backtest calls it once per bar: no per-call dict).
_SLOT = {outcome: i for i, outcome in enumerate(Outcome)}


class LedgerApplication(Application[UUID]):
    name = "ledger"

    def __init__(self, env: dict[str, str], *, clock: Clock, config: LedgerConfig) -> None:
        self.clock = clock
        self.config = config
        super().__init__(env)
        if not isinstance(self.recorder, LedgerRecorder):
            raise ConfigurationError(
                f"{type(self.recorder).__name__} is not a ledger recorder: set PERSISTENCE_MODULE "
                "to one of the ledger's store modules"
            )
        self.store: LedgerRecorder = self.recorder
        self.ledger = Ledger(config)
        self.position = 0
        self.sources: dict[str, int] = {}
        self.on_committed: list[Callable[[Sequence[ev.LedgerEvent], int], None]] = []
        # One writer at a time in this process: `serve` drives the application from its
        # Kafka thread and its broker-routing loop. Re-entrant, because on_committed
        # callbacks may feed the ledger again (a broker's report of a routed order).
        self.lock = threading.RLock()
        self.catch_up()

    def construct_mapper(self) -> Mapper[UUID]:
        return LedgerMapper()

    @property
    def ledger_mapper(self) -> LedgerMapper:
        mapper = self.mapper
        if not isinstance(mapper, LedgerMapper):
            raise ConfigurationError("the ledger needs its own mapper")
        return mapper

    # ------------------------------------------------------------------ reading

    def read_events(
        self, start: int = 1, stop: int | None = None
    ) -> Iterable[tuple[int, ev.LedgerEvent]]:
        """(global position, event) from `start` to `stop` inclusive, in log order."""
        decode = self.ledger_mapper.codec.decode
        while True:
            page = self.store.select_notifications(start, PAGE, stop=stop)
            for n in page:
                yield n.id, decode(n.topic, n.originator_id, n.originator_version, n.state)
            if len(page) < PAGE:
                return
            start = page[-1].id + 1

    def catch_up(self) -> int:
        """Apply whatever the log holds beyond this process's position. Returns how many."""
        with self.lock:
            return self._catch_up()

    def _catch_up(self) -> int:
        last = self.store.max_notification_id() or 0
        if last <= self.position:
            return 0
        count = 0
        apply = self.ledger.apply
        for position, event in self.read_events(self.position + 1):
            apply(event)
            self.position = position
            count += 1
        self.sources = self.store.source_positions()
        return count

    def rebuild(self) -> None:
        """Forget the in-memory state and rebuild it from the log (after a failed commit)."""
        self.ledger = Ledger(self.config)
        self.position = 0
        self.sources = {}
        self.catch_up()

    # ------------------------------------------------------------------ writing

    def process(self, messages: Sequence[SourcedMessage | ParsedMessage]) -> BatchSummary:
        """Decide and commit one batch; on a concurrent write, rebuild and decide again."""
        with self.lock:
            return self._process(messages)

    def _process(self, messages: Sequence[SourcedMessage | ParsedMessage]) -> BatchSummary:
        for _ in range(MAX_RETRIES):
            if (self.store.max_notification_id() or 0) != self.position:
                self.catch_up()
            summary, sources = self.decide(messages)
            try:
                summary.events = self.commit(sources)
            except ConcurrentWriteError:
                self.rebuild()
                continue
            except BaseException:
                self.rebuild()
                raise
            return summary
        raise ConcurrentWriteError(f"gave up after {MAX_RETRIES} concurrent-write retries")

    def decide(
        self, messages: Sequence[SourcedMessage | ParsedMessage]
    ) -> tuple[BatchSummary, dict[str, int]]:
        """Decide inputs against the in-memory ledger (recorded at the clock's now); their
        events wait in `ledger.pending` for `commit`. Returns the outcome counts and the
        source positions to commit with them. Inputs at or below a committed source
        position are duplicates."""
        now = self.clock.now()
        ledger, known = self.ledger, self.sources
        # A list of ints, one per outcome: a backtest calls this once per bar.
        counts = [0] * len(_SLOT)
        duplicates = 0
        sources: dict[str, int] = {}
        for sm in messages:
            src, pos = sm.source, sm.position
            if pos <= known.get(src, -1) or pos <= sources.get(src, -1):
                duplicates += 1
                continue
            sources[src] = pos
            if isinstance(sm, ParsedMessage):
                counts[_SLOT[ledger.handle(sm.message, f"{src}@{pos}", now)]] += 1
                continue
            try:
                msg = parse_message(sm.payload)
            except ContractValidationError as e:
                outcome = ledger.quarantine(
                    src, pos, sm.payload, orjson.dumps(e.errors).decode(), now
                )
            else:
                outcome = ledger.handle(msg, f"{src}@{pos}", now)
            counts[_SLOT[outcome]] += 1
        summary = BatchSummary(
            read=len(messages),
            applied=counts[_SLOT[Outcome.APPLIED]],
            duplicates=duplicates + counts[_SLOT[Outcome.DUPLICATE]],
            anomalies=counts[_SLOT[Outcome.ANOMALY]],
            held=counts[_SLOT[Outcome.HELD]],
            quarantined=counts[_SLOT[Outcome.QUARANTINED]],
        )
        return summary, sources

    def commit(self, sources: dict[str, int]) -> int:
        """Append the pending events and these source positions in one transaction.

        Raises ConcurrentWriteError when another writer appended since this process last
        read the log; the caller then `rebuild()`s (the decided state is void). Returns how
        many events were written."""
        events = self.ledger.drain()
        to_stored = self.ledger_mapper.to_stored_event
        stored = [to_stored(e) for e in events]
        if not stored and not sources:
            return 0
        new_position = self.store.append(stored, sources=sources, expected_position=self.position)
        self.position = new_position
        self.sources.update(sources)
        for callback in self.on_committed:
            callback(events, new_position)
        return len(stored)

    # ------------------------------------------------------------------ commands

    def ingest(
        self,
        messages: Iterable[SourcedMessage | ParsedMessage],
        batch_size: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> BatchSummary:
        """Process messages in batches of `batch_size`, each committed in one transaction.

        On a store that commits on a server (PostgreSQL), and with no `on_committed`
        callbacks to run between batches, batch N is committed on a writer thread while
        batch N+1 is decided: the decisions are the same (N+1 is decided against the
        state N leaves), only the waiting overlaps. If N's commit fails, N+1's decisions
        are void too: the state is rebuilt from the log and both batches are processed
        again, one after the other."""
        total = BatchSummary()
        batches = _batches(messages, batch_size)
        if self.store.commits_on_server and not self.on_committed:
            with self.lock, ThreadPoolExecutor(1, thread_name_prefix="ledger-commit") as writer:
                self._ingest_overlapped(batches, writer, total, progress)
            return total
        for batch in batches:
            total.add(self.process(batch))
            if progress is not None:
                progress(len(batch))
        return total

    def _ingest_overlapped(
        self,
        batches: Iterable[list[SourcedMessage | ParsedMessage]],
        writer: ThreadPoolExecutor,
        total: BatchSummary,
        progress: Callable[[int], None] | None,
    ) -> None:
        inflight: _InFlight | None = None
        try:
            for batch in batches:
                if inflight is None and (self.store.max_notification_id() or 0) != self.position:
                    self.catch_up()
                summary, sources = self.decide(batch)
                if inflight is not None and not self._landed(inflight, total, progress):
                    self._redo([inflight.batch, batch], total, progress)
                    inflight = None
                    continue
                inflight = self._send(batch, summary, sources, writer)
            if inflight is not None and not self._landed(inflight, total, progress):
                self._redo([inflight.batch], total, progress)
            inflight = None
        except BaseException:
            if inflight is not None:
                wait([inflight.future])
            self.rebuild()  # decisions were made that may not have been committed
            raise

    def _send(
        self,
        batch: list[SourcedMessage | ParsedMessage],
        summary: BatchSummary,
        sources: dict[str, int],
        writer: ThreadPoolExecutor,
    ) -> _InFlight:
        """Start committing what `batch` decided; the next batch is decided as if it had."""
        to_stored = self.ledger_mapper.to_stored_event
        stored = [to_stored(e) for e in self.ledger.drain()]
        summary.events = len(stored)
        expected = self.position
        self.sources.update(sources)
        if not stored and not sources:
            future: Future[int] = Future()
            future.set_result(expected)
        else:
            future = writer.submit(
                self.store.append, stored, sources=sources, expected_position=expected
            )
        return _InFlight(batch, summary, future)

    def _landed(
        self, inflight: _InFlight, total: BatchSummary, progress: Callable[[int], None] | None
    ) -> bool:
        """Wait for a batch's commit: True when it landed, False on a concurrent write."""
        try:
            self.position = inflight.future.result()
        except ConcurrentWriteError:
            return False
        total.add(inflight.summary)
        if progress is not None:
            progress(len(inflight.batch))
        return True

    def _redo(
        self,
        batches: list[list[SourcedMessage | ParsedMessage]],
        total: BatchSummary,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Another writer got in: forget the decisions, rebuild, process one by one."""
        self.rebuild()
        for batch in batches:
            total.add(self.process(batch))
            if progress is not None:
                progress(len(batch))

    def command_killswitch(
        self, command: KillSwitchCommand, reason: str, operator: Operator
    ) -> list[ev.LedgerEvent]:
        return self.command(
            lambda ledger, now: ledger.command_killswitch(command, reason, operator, now)
        )

    def command(self, decide: Callable[[Ledger, datetime], object]) -> list[ev.LedgerEvent]:
        """Run a decision against the caught-up ledger and commit its events in one
        transaction; on a concurrent write, rebuild and decide again. Returns the events."""
        with self.lock:
            return self._command(decide)

    def _command(self, decide: Callable[[Ledger, datetime], object]) -> list[ev.LedgerEvent]:
        for _ in range(MAX_RETRIES):
            self.catch_up()
            decide(self.ledger, self.clock.now())
            events = list(self.ledger.pending)
            try:
                self.commit({})
            except ConcurrentWriteError:
                self.rebuild()
                continue
            except BaseException:
                self.rebuild()
                raise
            return events
        raise ConcurrentWriteError(f"gave up after {MAX_RETRIES} concurrent-write retries")

    def describe(self) -> dict[str, Any]:
        return {"position": self.position, **self.store.describe()}


@dataclass(slots=True)
class _InFlight:
    """A batch whose decisions are being committed on the writer thread."""

    batch: list[SourcedMessage | ParsedMessage]
    summary: BatchSummary
    future: Future[int]


def _batches(
    messages: Iterable[SourcedMessage | ParsedMessage], size: int
) -> Iterator[list[SourcedMessage | ParsedMessage]]:
    batch: list[SourcedMessage | ParsedMessage] = []
    for sm in messages:
        batch.append(sm)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
