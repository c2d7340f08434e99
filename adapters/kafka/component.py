"""The Kafka side of `ledger serve`: ingest, publish, reconnect, stop, readiness.

One loop does, per cycle: fetch a batch (up to `batch_size`, `linger_ms`) ->
commit it to the ledger (events + offsets, one transaction, on the ledger
thread) -> hand the batch to the way out and go round again. The way out, one
batch at a time and in order: publish what the log now holds beyond each
publisher's checkpoint (`ledger_events`, `dlq`, `risk_state`) -> commit the
offsets to Kafka for monitoring -> run the `after_batch` hooks (projections,
metrics). So batch N goes out while batch N+1 is decided and committed (the
publisher has its own thread and connection), and batch N+2 waits until N is
out: at most one batch between the log and Kafka. A batch that changed the kill
switch is out (on `ledger_events` and `risk_state`, hooks run) before the next
batch is decided, as if there were no overlap.

`ledger serve --kafka HOST:PORT` runs it through `adapters/kafka/serve.py`
(`KafkaServeComponent`, a `ServeComponent` on a thread with its own event loop);
that module's docstring has the four lines of wiring. Used directly (asyncio):

    component = KafkaComponent(app, KafkaSettings(bootstrap_servers="host:9092"),
                               checkpoints=SqlCheckpoints(open_projection_store(url)),
                               rng=random.Random())
    loop.add_signal_handler(signal.SIGTERM, component.request_stop)
    await component.start()
    try:
        await component.run_until_stopped()  # returns after a stop; raises KafkaRefused
    finally:
        await component.stop()
    # /ready: component.readiness() (.ready, .reason); /metrics: component.lag

Everything that touches `app` must go through `component.thread.run(fn, ...)`,
because the ledger application is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka.errors import KafkaError

from adapters.kafka.checkpoints import CheckpointStore
from adapters.kafka.errors import REFUSALS, KafkaRefused
from adapters.kafka.ingest import BatchReport, KafkaIngest
from adapters.kafka.publish import LogPublisher
from adapters.kafka.settings import KafkaSettings
from adapters.kafka.threads import Backoff, LedgerThread
from domain import events as ev
from domain.application import LedgerApplication

log = logging.getLogger(__name__)

AfterBatch = Callable[[BatchReport], Awaitable[None]]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str  # why not; "" when ready


class KafkaComponent:
    def __init__(
        self,
        app: LedgerApplication,
        settings: KafkaSettings,
        *,
        checkpoints: CheckpointStore,
        rng: random.Random,
        thread: LedgerThread | None = None,
        after_batch: Sequence[AfterBatch] = (),
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings
        self._own_thread = thread is None
        self.thread = thread or LedgerThread()
        self.ingest = KafkaIngest(app, settings, self.thread, wall=wall, monotonic=monotonic)
        self.publisher = LogPublisher(settings, checkpoints) if settings.publish else None
        self.after_batch = list(after_batch)
        self._monotonic = monotonic
        self._backoff = Backoff(
            settings.reconnect_backoff_initial_s, settings.reconnect_backoff_max_s, rng
        )
        self._publish_backoff = Backoff(
            settings.reconnect_backoff_initial_s, settings.reconnect_backoff_max_s, rng
        )
        self._publish_retry_at = 0.0
        self._state = Readiness(False, "not started")
        self._state_at = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.records = 0
        self.reconnects = 0
        self.last_error = ""
        # The log position after the last commit that changed the kill switch (set on the
        # ledger thread by `_watch_killswitch`, read by the loop after that commit returns).
        self._killswitch_at = 0
        self._killswitch_out = 0
        app.on_committed.append(self._watch_killswitch)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Begin consuming in the background (connecting, with backoff, as needed)."""
        if self._task is None:
            log.info("kafka: starting with %s", self.settings.describe())
            self._task = asyncio.create_task(self._supervise(), name="ledger-kafka")

    async def run_until_stopped(self) -> None:
        """Wait until stopped; raises `KafkaRefused` (or a store error) if the loop died."""
        if self._task is None:
            await self.start()
        if self._task is not None:
            await self._task

    def request_stop(self) -> None:
        """Ask for a graceful stop (safe from a signal handler): the batch in flight
        commits, is published and its offsets committed; then the clients close."""
        self._stop.set()

    async def stop(self) -> None:
        self.request_stop()
        if self._task is not None:
            await asyncio.wait([self._task])
        if self._watch_killswitch in self.app.on_committed:
            self.app.on_committed.remove(self._watch_killswitch)
        if self.publisher is not None:
            self.publisher.shutdown()
        if self._own_thread:
            self.thread.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------------ observability

    @property
    def lag(self) -> dict[tuple[str, int], int]:
        """Messages behind the partition end, per assigned (topic, partition)."""
        return dict(self.ingest.lag)

    def readiness(self) -> Readiness:
        """Safe from any thread: the state the loop recorded at the end of its last cycle
        (it cycles at least every poll timeout), unless the loop has stopped or stalled."""
        if self._task is None or self._task.done():
            return Readiness(False, "the Kafka consumer is not running")
        state, age = self._state, self._monotonic() - self._state_at
        if state.ready and age > self.settings.ready_max_silence_s:
            return Readiness(False, f"the Kafka loop has not completed a cycle for {age:.0f} s")
        return state

    def _note_state(self) -> None:
        self._state = self._assess()
        self._state_at = self._monotonic()

    def _assess(self) -> Readiness:
        ingest, s = self.ingest, self.settings
        if ingest.consumer is None:
            return Readiness(False, "not connected to Kafka (reconnecting)")
        if ingest.assignment is None:
            return Readiness(False, "waiting for a partition assignment")
        if not ingest.assignment:
            return Readiness(
                False,
                "no partition assigned (the input topics do not exist, "
                "or the group has more members than partitions)",
            )
        if ingest.behind:
            names = ", ".join(sorted(f"{tp.topic}:{tp.partition}" for tp in ingest.behind))
            return Readiness(False, f"partition log behind the ledger's offset: {names}")
        lags = ingest.lag
        unknown = [tp for tp in ingest.assignment if (tp.topic, tp.partition) not in lags]
        if unknown:
            return Readiness(False, f"lag not known yet for {len(unknown)} partition(s)")
        (topic, partition), lag = max(lags.items(), key=lambda kv: kv[1])
        if lag > s.ready_max_lag:
            return Readiness(
                False, f"{topic}:{partition} is {lag} messages behind (threshold {s.ready_max_lag})"
            )
        silence = ingest.silence_s()
        if silence is not None and silence > s.ready_max_silence_s:
            return Readiness(False, f"no fetch response from Kafka for {silence:.0f} s")
        return Readiness(True, "")

    # ------------------------------------------------------------------ the loop

    async def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                await self._connect()
                await self._loop()
            except REFUSALS as e:
                raise KafkaRefused(f"Kafka refused the ledger: {e!r}") from e
            except KafkaError as e:
                self.reconnects += 1
                self.last_error = repr(e)
                log.warning("kafka: %r; reconnecting", e)
            finally:
                await self._disconnect()
                self._note_state()
            if not self._stop.is_set():
                delay = self._backoff.next_delay()
                log.info("kafka: reconnecting in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)

    async def _connect(self) -> None:
        await self.ingest.open()  # the producer opens on first use (see `_publish`)
        self._backoff.reset()

    async def _disconnect(self) -> None:
        if self._stop.is_set():  # a graceful stop: leave the monitoring offsets exact
            await self.ingest.commit_offsets(force=True)
        await self.ingest.close()
        if self.publisher is not None:
            await self._close_publisher()

    async def _loop(self) -> None:
        outgoing: asyncio.Task[None] | None = None  # the previous batch on its way out
        try:
            while not self._stop.is_set():
                records = await self.ingest.next_batch()
                report = await self.ingest.process(records) if records else None
                if outgoing is not None:
                    await outgoing  # at most one batch between the log and Kafka
                outgoing = asyncio.create_task(self._send_out(report))
                if self._killswitch_at > self._killswitch_out:
                    # A kill-switch change goes out before anything else is decided.
                    self._killswitch_out = self._killswitch_at
                    task, outgoing = outgoing, None
                    await task
            if outgoing is not None:
                task, outgoing = outgoing, None
                await task  # a graceful stop: the last batch is published too
        finally:
            if outgoing is not None:  # leaving on an error: let the way out settle first
                await asyncio.wait([outgoing])
                if not outgoing.cancelled():
                    outgoing.exception()  # the error being raised is the one to report

    async def _send_out(self, report: BatchReport | None) -> None:
        """Publish the log's tail, then report the batch (monitoring offsets, hooks)."""
        await self._publish()
        self.ingest.update_lag()
        self._note_state()
        if report is not None:
            self.batches += 1
            self.records += report.records
            await self.ingest.commit_offsets()
            for hook in self.after_batch:
                await hook(report)

    def _watch_killswitch(self, events: Sequence[ev.LedgerEvent], position: int) -> None:
        """`on_committed` callback (ledger thread): note commits that move the kill switch."""
        for e in events:
            if isinstance(e, ev.KillSwitchEvent):
                self._killswitch_at = position
                return

    # ------------------------------------------------------------------ publishing

    async def _publish(self) -> None:
        """Publish the log's tail. A failing publisher does not stop the ingest: the
        events are in the log, the checkpoint stays, and it retries with backoff."""
        publisher = self.publisher
        if publisher is None or self._monotonic() < self._publish_retry_at:
            return
        try:
            if publisher.producer is None:
                await self._open_publisher()
            await asyncio.wait_for(
                publisher.publish_pending(), self.settings.request_timeout_ms / 1000
            )
            self._publish_backoff.reset()
        except REFUSALS:
            raise
        except (KafkaError, TimeoutError) as e:
            delay = self._publish_backoff.next_delay()
            self._publish_retry_at = self._monotonic() + delay
            self.last_error = repr(e)
            log.warning("kafka: publishing failed (%r); retrying in %.1f s", e, delay)
            await self._close_publisher()

    async def _open_publisher(self) -> None:
        if self.publisher is not None and self.publisher.producer is None:
            await self.publisher.open()

    async def _close_publisher(self) -> None:
        if self.publisher is None:
            return
        try:
            await self.publisher.close()
        except KafkaError as e:
            log.warning("kafka: closing the producer: %r", e)
