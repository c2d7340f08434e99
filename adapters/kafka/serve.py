"""`KafkaComponent` as a `ServeComponent` of `ledger serve` (adapters/projections/service.py).

The serve loop is synchronous and ticks its components in turn; the Kafka side
needs a running event loop all the time (group heartbeats, fetching ahead while a
batch commits). So the component runs on a thread of its own ("ledger-kafka") with
its own event loop and ledger thread, and `tick` only reports: it copies the
consumer lag into `ledger_kafka_consumer_lag` and returns True when a batch was
committed since the last tick, so the loop runs the projections right away
instead of waiting (on PostgreSQL the append's NOTIFY wakes the loop anyway).

Wiring in replay/commands/serve.py (option `--kafka HOST:PORT`):

    if options.kafka:
        settings = KafkaSettings(bootstrap_servers=options.kafka)  # + LEDGER_KAFKA_* env
        comps.insert(0, KafkaServeComponent(settings))             # before the projections
    ...
    loop.run()
    if kafka_component.fatal:            # Kafka refused us, or the store failed
        raise CliError(kafka_component.fatal, UNAVAILABLE)

The ledger application (`ctx.ledger_app()`) is then driven by the "ledger-kafka"
thread. Another component that writes through the same application object (for
example `--broker` routing) must not call it from the serve thread at the same
time: give it its own `open_ledger` (the store's optimistic concurrency keeps two
writers correct), or run its calls with `run_in_ledger_thread`.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from adapters.kafka.checkpoints import SqlCheckpoints
from adapters.kafka.component import KafkaComponent
from adapters.kafka.settings import KafkaSettings
from adapters.process import (
    restore_gc,
    restore_switch_interval,
    tune_gc,
    tune_switch_interval,
)
from adapters.projections.service import ServeContext
from domain.application import LedgerApplication

T = TypeVar("T")

STOP_TIMEOUT_S = 60.0


class KafkaServeComponent:
    name = "kafka"

    def __init__(self, settings: KafkaSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()  # reconnect jitter only
        self.component: KafkaComponent | None = None
        self.fatal: str | None = None  # why the Kafka side stopped on its own
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._seen_batches = 0
        self._gc_before: tuple[int, int, int] | None = None
        self._switch_before: float | None = None

    # ------------------------------------------------------------------ ServeComponent

    def start(self, ctx: ServeContext) -> None:
        # A long-running process with a large heap, and two busy threads (adapters/process.py);
        # undone by `stop`.
        self._gc_before = tune_gc(freeze=False)
        self._switch_before = tune_switch_interval()
        app = ctx.ledger_app()
        checkpoints = SqlCheckpoints(ctx.store)
        self._thread = threading.Thread(
            target=self._run, args=(ctx, app, checkpoints), name="ledger-kafka", daemon=True
        )
        self._thread.start()
        self._running.wait(timeout=STOP_TIMEOUT_S)

    def tick(self, ctx: ServeContext) -> bool:
        component = self.component
        if component is None:
            return False
        for (topic, partition), lag in component.lag.items():
            ctx.metrics.set_kafka_lag(topic, partition, lag)
        batches = component.batches
        busy = batches != self._seen_batches
        self._seen_batches = batches
        return busy

    def stop(self, ctx: ServeContext) -> None:
        loop, component = self._loop, self.component
        if loop is not None and component is not None and not loop.is_closed():
            loop.call_soon_threadsafe(component.request_stop)
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
        if self._gc_before is not None:
            restore_gc(self._gc_before)
            self._gc_before = None
        if self._switch_before is not None:
            restore_switch_interval(self._switch_before)
            self._switch_before = None

    def problem(self) -> str | None:
        return self.fatal

    def is_ready(self) -> bool:
        component = self.component
        return component is not None and component.readiness().ready

    def readiness_reason(self) -> str:
        component = self.component
        return component.readiness().reason if component is not None else "not started"

    # ------------------------------------------------------------------ helpers

    def run_in_ledger_thread(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the thread that owns the ledger application, and wait for it."""
        loop, component = self._loop, self.component
        if loop is None or component is None:
            return fn()
        future: Future[T] = asyncio.run_coroutine_threadsafe(component.thread.run(fn), loop)
        return future.result()

    def _run(self, ctx: ServeContext, app: LedgerApplication, checkpoints: SqlCheckpoints) -> None:
        try:
            asyncio.run(self._main(app, checkpoints))
        except Exception as e:  # reported on /health, and serve stops: exit code 4
            self.fatal = f"{type(e).__name__}: {e}"
            ctx.log(f"ledger serve: kafka: {self.fatal}")
            ctx.stop.set()
        finally:
            self._running.set()

    async def _main(self, app: LedgerApplication, checkpoints: SqlCheckpoints) -> None:
        self._loop = asyncio.get_running_loop()
        component = KafkaComponent(app, self.settings, checkpoints=checkpoints, rng=self._rng)
        self.component = component
        await component.start()
        self._running.set()
        try:
            await component.run_until_stopped()
        finally:
            await component.stop()
