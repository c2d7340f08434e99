"""The `ledger serve` loop and its components.

The loop ticks every component in turn; when none had work it waits for new events
(LISTEN/NOTIFY on PostgreSQL, the poll interval on SQLite) or a stop request
(SIGTERM/SIGINT set `ServeContext.stop`), then stops the components in reverse order.

Built-in components:
- `ProjectionFollower`: keeps every projection caught up with the log; `/ready` once it
  has caught up; a projection that fails on an event stops (its error is on stderr and
  in `/health`), the others go on;
- `ChainWatch`: verifies the hash chain from the start and then its tail, and exports
  `ledger_chain_verified` / `ledger_chain_verified_position`.

Extension points (`--kafka` ingest, `--broker` routing): write a class with the
`ServeComponent` methods and add it to the list `replay/commands/serve.py` builds.
`ServeContext.ledger_app()` opens the LedgerApplication once, with its appends
timed into `ledger_append_latency_seconds` / `ledger_batch_size`; `ctx.metrics` has
`set_kafka_lag` and `reconcile_succeeded`. A component's `tick` should do a bounded
amount of work (one poll, one batch) and return True when more is waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from eventsourcing.persistence import Notification, StoredEvent
from sqlalchemy.exc import SQLAlchemyError

from adapters.projections.engine import ProjectionStore
from adapters.projections.waiter import Waiter
from adapters.store.chain import GENESIS, row_hash
from domain import events as ev
from domain.application import LedgerApplication
from domain.clock import Clock
from domain.codec import topic_of
from domain.ports import LedgerRecorder
from projections.base import ProjectionFailed
from projections.metrics import ServeMetrics
from projections.runner import DEFAULT_BATCH, ProjectionRunner, set_up


@dataclass
class ServeContext:
    store: ProjectionStore
    metrics: ServeMetrics
    clock: Clock
    stop: threading.Event
    log: Callable[[str], None]
    open_ledger: Callable[[], LedgerApplication] | None = None
    _app: LedgerApplication | None = field(default=None, repr=False)

    def ledger_app(self) -> LedgerApplication:
        """The ledger application (opened on first use), appends instrumented. One object
        for every component: its own lock serialises the threads that use it."""
        if self._app is None:
            if self.open_ledger is None:
                raise RuntimeError("this serve context cannot open the ledger")
            self._app = self.open_ledger()
            instrument_appends(self._app, self.metrics)
        return self._app


class ServeComponent(Protocol):
    name: str

    def start(self, ctx: ServeContext) -> None: ...

    def tick(self, ctx: ServeContext) -> bool:
        """Do a bounded amount of work; True when more is waiting (no wait before the next)."""
        ...

    def stop(self, ctx: ServeContext) -> None: ...

    def problem(self) -> str | None:
        """None while healthy, else what is wrong (`/health` answers 503 with it)."""
        ...

    def is_ready(self) -> bool: ...


class ServeLoop:
    def __init__(
        self,
        ctx: ServeContext,
        components: Sequence[ServeComponent],
        waiter: Waiter,
        poll_interval: float,
    ) -> None:
        self.ctx = ctx
        self.components = list(components)
        self.waiter = waiter
        self.poll_interval = poll_interval

    def health(self) -> tuple[bool, str]:
        problems = [f"{c.name}: {p}" for c in self.components if (p := c.problem())]
        return (not problems, "\n".join(problems) or "ok")

    def ready(self) -> tuple[bool, str]:
        waiting = [c.name for c in self.components if not c.is_ready()]
        ok = not waiting
        self.ctx.metrics.ready.set(1 if ok else 0)
        return ok, "ready" if ok else f"not ready: {', '.join(waiting)}"

    def run(self) -> None:
        started: list[ServeComponent] = []
        try:
            for c in self.components:
                c.start(self.ctx)
                started.append(c)
            while not self.ctx.stop.is_set():
                busy = False
                for c in self.components:
                    busy = c.tick(self.ctx) or busy
                self.ready()
                if not busy:
                    self.waiter.wait(self.poll_interval)
        finally:
            for c in reversed(started):
                c.stop(self.ctx)
            self.waiter.close()


class ProjectionFollower:
    name = "projections"

    def __init__(self, batch_size: int = DEFAULT_BATCH) -> None:
        self.batch_size = batch_size
        self.runner: ProjectionRunner | None = None
        self._caught_up = False
        self._error: str | None = None

    def start(self, ctx: ServeContext) -> None:
        set_up(ctx.store.engine)
        self.runner = ProjectionRunner(
            ctx.store.engine, ctx.store.source, batch_size=self.batch_size
        )

    def tick(self, ctx: ServeContext) -> bool:
        runner = self.runner
        if runner is None or not runner.active:
            return False
        try:
            step, _ = runner.run_once()
        except ProjectionFailed as f:
            ctx.log(f"ledger serve: {f}")
            return bool(runner.active)
        except SQLAlchemyError as e:  # the store is unreachable or locked: retry after a wait
            error = f"database error: {e}"
            if error != self._error:  # once per distinct error, not once per poll
                ctx.log(f"ledger serve: projections: {error}")
            self._error = error
            return False
        self._error = None
        if step.span == 0:
            self._caught_up = True
            return False
        return True

    def stop(self, ctx: ServeContext) -> None:
        self.runner = None

    def problem(self) -> str | None:
        failed = self.runner.failed if self.runner is not None else {}
        problems = [str(f) for f in failed.values()] + ([self._error] if self._error else [])
        return "; ".join(problems) or None

    def is_ready(self) -> bool:
        return self._caught_up and self.runner is not None and not self.runner.failed


_RECONCILED = topic_of(ev.ReconciliationRecorded)


def _note_reconciliation(metrics: ServeMetrics, state: bytes, recorded_at_us: int) -> None:
    """A reconciliation run in the log: a success unless the broker was unreachable;
    `counts.remaining` lists every break kind (zeros too), so cleared breaks reset."""
    run = orjson.loads(state)
    if run.get("result") == "unreachable":
        return
    remaining = orjson.loads(run.get("counts") or "{}").get("remaining", {})
    metrics.reconcile_succeeded(recorded_at_us / 1_000_000, remaining)


class ChainWatch:
    """Verifies the hash chain incrementally (bounded rows per tick). Reading every row
    anyway, it also carries the last reconciliation run into the metrics."""

    name = "chain"

    def __init__(self, rows_per_tick: int = 20_000) -> None:
        self.rows_per_tick = rows_per_tick
        self.position = 0
        self.prev = GENESIS
        self.broken_after: int | None = None

    def start(self, ctx: ServeContext) -> None:
        pass

    def tick(self, ctx: ServeContext) -> bool:
        if self.broken_after is not None:
            return False
        source = ctx.store.source
        try:
            with ctx.store.read_engine.begin() as conn:
                rows = source.chain_rows(conn, self.position, self.rows_per_tick)
        except SQLAlchemyError as e:
            ctx.log(f"ledger serve: chain watch: database error: {e}")
            return False
        for position, oid, version, topic, state, recorded_at, stored in rows:
            expected = row_hash(self.prev, oid, version, topic, state, recorded_at)
            if expected != stored:
                self.broken_after = self.position
                ctx.metrics.chain_checked(False, self.position)
                ctx.log(
                    f"ledger serve: hash chain broken at global position {position} "
                    f"(last verified {self.position}); run `ledger verify`"
                )
                return False
            self.prev, self.position = stored, position
            if topic == _RECONCILED:
                _note_reconciliation(ctx.metrics, state, recorded_at)
        ctx.metrics.chain_checked(True, self.position)
        return len(rows) == self.rows_per_tick

    def stop(self, ctx: ServeContext) -> None:
        pass

    def problem(self) -> str | None:
        return None  # an integrity failure alerts on its own metric; the service still runs

    def is_ready(self) -> bool:
        return True


class _TimedRecorder:
    """The ledger's recorder with each append timed (latency and batch size histograms)."""

    def __init__(
        self,
        inner: LedgerRecorder,
        observe: Callable[[float, int], None],
        timer: Callable[[], float],
    ) -> None:
        self._inner = inner
        self._observe = observe
        self._timer = timer

    def append(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        sources: Mapping[str, int],
        expected_position: int,
    ) -> int:
        started = self._timer()
        position = self._inner.append(
            stored_events, sources=sources, expected_position=expected_position
        )
        self._observe(self._timer() - started, len(stored_events))
        return position

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        return self._inner.select_notifications(
            start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )

    def max_notification_id(self) -> int | None:
        return self._inner.max_notification_id()

    def source_positions(self) -> dict[str, int]:
        return self._inner.source_positions()

    def describe(self) -> dict[str, Any]:
        return self._inner.describe()

    def db_identity(self) -> str:
        return self._inner.db_identity()

    def __getattr__(self, name: str) -> Any:
        """Whatever else the store offers (chain rows, positions by time) is passed through."""
        return getattr(self._inner, name)


def instrument_appends(
    app: LedgerApplication, metrics: ServeMetrics, timer: Callable[[], float] = time.perf_counter
) -> None:
    """Time every append the application makes from now on."""
    if not isinstance(app.store, _TimedRecorder):
        app.store = _TimedRecorder(app.store, metrics.observe_append, timer)
