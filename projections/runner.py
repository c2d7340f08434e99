"""The projection runner: each projection from its checkpoint, rows and checkpoint in one
transaction, in batches.

Design, and why not eventsourcing's `ProjectionRunner` as is: its design is the one
used here (a projection writes its view and its tracking position atomically, and
resumes from the tracking position), but it processes one event per transaction
through a recorder subscription, and its SQLite recorder has no subscription at all.
Here one transaction covers a batch of events (thousands) for several projections:

1. lock the checkpoint rows of the projections' live versions (FOR UPDATE on
   PostgreSQL; SQLite writers take the database write lock at BEGIN IMMEDIATE), so two
   processes catching up the same projection never both apply a batch;
2. read the log after the lowest checkpoint, up to a batch, in the same transaction
   (`EventSource`: one SQL query, raw rows decoded lazily and once for all projections);
3. feed each projection the events after its own checkpoint, flush its rows, move its
   checkpoint; commit.

A projection that cannot process an event stops the batch: the transaction rolls
back, `ProjectionFailed` names the event's global position and type, and the
checkpoint stays before it (fail-stop, never skip). Restarted, it resumes from there.

A rebuild's versions, which no other process writes, may instead be read and applied
outside the write transaction (`run_detached`: a read snapshot, then a short write
transaction that checks the checkpoints again): only the writing holds the lock, so the
ledger's writers wait less and two build processes can work at once (`projections.build`).

The live versions are read under a share lock in every transaction, so a
`ledger rebuild` swapping versions (an UPDATE of those rows) waits for a running
batch, and the next batch follows the new version. A runner built with fixed
`versions` (the rebuild itself) works on versions that are not live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, MetaData, inspect

from domain.codec import EventCodec
from projections.base import EventRejected, Projection, ProjectionError, ProjectionFailed
from projections.log import EventSource, LogEvent
from projections.registry import ALL, projection_class, resolve_names
from projections.schema import (
    add_checkpoint,
    checkpoints,
    create_tables,
    ensure_core_tables,
    live_versions,
    serialize_setup,
    set_checkpoint,
    set_live_versions,
    versions_table,
)

DEFAULT_BATCH = 20_000


class ProjectionNotSetUp(ProjectionError):
    """A projection has no live version (set-up has not run)."""


@dataclass(frozen=True, slots=True)
class Step:
    span: int  # global positions covered (0: everything was caught up)
    events: int  # events read
    upto: int  # the checkpoint every projection of the step reached


Progress = Callable[[Step, int], None]  # (step, head)


class CheckpointMoved(ProjectionError):
    """Another process moved a checkpoint while this one was applying a batch after it."""


@dataclass(slots=True)
class _Batch:
    behind: list[Projection]  # the projections this batch moves
    checkpoints: dict[tuple[str, int], int]  # (name, version) -> position, as read
    start: int
    upto: int
    events: Sequence[LogEvent]
    head: int

    @property
    def step(self) -> Step:
        return Step(self.upto - self.start, len(self.events), self.upto)


def set_up(engine: Engine, names: Sequence[str] = ALL) -> None:
    """Create the shared tables and version 1 of every projection never set up (idempotent).

    Checks first without a write transaction: readers must not queue for the write lock.
    """
    names = resolve_names(names)
    with engine.connect() as conn:
        if inspect(conn).has_table(versions_table.name):
            live = live_versions(conn)
            if all(n in live for n in names):
                return
    with engine.begin() as conn:
        serialize_setup(conn)
        ensure_core_tables(conn)
        live = live_versions(conn)
        for name in names:
            if name in live:
                continue
            create_tables(conn, projection_class(name).define(MetaData(), 1))
            add_checkpoint(conn, name, 1)
            set_live_versions(conn, {name: 1})


class ProjectionRunner:
    def __init__(
        self,
        engine: Engine,
        source: EventSource,
        names: Sequence[str] = ALL,
        *,
        batch_size: int = DEFAULT_BATCH,
        codec: EventCodec | None = None,
        versions: Mapping[str, int] | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.names = resolve_names(names)
        self.batch_size = batch_size
        self.codec = codec or EventCodec()
        self._fixed = dict(versions) if versions is not None else None
        self._projections: dict[str, Projection] = {}
        self._loaded: dict[str, tuple[int, int]] = {}
        self.failed: dict[str, ProjectionFailed] = {}

    @property
    def active(self) -> list[str]:
        return [n for n in self.names if n not in self.failed]

    # ------------------------------------------------------------------ running

    def catch_up(self, progress: Progress | None = None) -> int:
        """Run batches until every projection has reached the log's head; events read."""
        total = 0
        while True:
            step, head = self.run_once()
            if step.span == 0:
                return total
            total += step.events
            if progress is not None:
                progress(step, head)

    def run_once(self) -> tuple[Step, int]:
        """One batch in its own transaction. Raises ProjectionFailed (and remembers it)."""
        with self._failures_remembered(), self.engine.begin() as conn:
            return self.step(conn)

    @contextmanager
    def _failures_remembered(self) -> Iterator[None]:
        """A failed batch leaves no in-memory state behind; a projection's failure is kept."""
        try:
            yield
        except ProjectionFailed as f:
            self._forget()
            self.failed[f.projection] = f
            raise
        except BaseException:
            self._forget()
            raise

    def step(self, conn: Connection) -> tuple[Step, int]:
        """One batch inside the caller's transaction: (what it did, the log's head)."""
        batch = self._plan(conn, lock=True)
        if batch.behind:
            self._apply(conn, batch)
            self._write(conn, batch)
        return batch.step, batch.head

    def run_detached(self, read_engine: Engine) -> tuple[Step, int]:
        """One batch read and applied outside the write transaction, written in a short one.

        For versions that no other process writes (a rebuild's): the log and the
        projections' state are read in a read transaction (a snapshot) and the batch is
        applied in memory meanwhile the ledger's writers, and other rebuild workers, can
        write; only the rows and the checkpoints take the write lock. The checkpoints are
        read again under the lock: if one moved, nothing is written (`CheckpointMoved`).
        """
        with self._failures_remembered():
            with read_engine.connect() as rconn:
                batch = self._plan(rconn, lock=False)
                if batch.behind:
                    self._apply(rconn, batch)
            if batch.behind:
                with self.engine.begin() as conn:
                    keys = [(p.name, p.version) for p in batch.behind]
                    now = checkpoints(conn, keys, lock=True)
                    moved = [k for k in keys if now.get(k) != batch.checkpoints[k]]
                    if moved:
                        raise CheckpointMoved(f"checkpoints moved meanwhile: {moved}")
                    self._write(conn, batch)
            return batch.step, batch.head

    def _plan(self, conn: Connection, *, lock: bool) -> _Batch:
        """The projections behind the log's head and the batch of events they read next."""
        projections = self._bind(conn)
        cps = checkpoints(conn, [(p.name, p.version) for p in projections], lock=lock)
        head = self.source.head(conn)
        behind = [p for p in projections if cps[(p.name, p.version)] < head]
        if not behind:
            return _Batch([], cps, head, head, [], head)
        start = min(cps[(p.name, p.version)] for p in behind)
        upto = min(start + self.batch_size, head)
        topics: frozenset[str] | None = frozenset()
        for p in behind:
            topics = None if topics is None or p.topics is None else topics | p.topics
        return _Batch(behind, cps, start, upto, self.source.read(conn, start, upto, topics), head)

    def _apply(self, conn: Connection, batch: _Batch) -> None:
        """Feed each projection the batch's events after its own checkpoint (memory only;
        a projection's state is loaded first from `conn` when it is not in memory)."""
        for p in batch.behind:
            cp = batch.checkpoints[(p.name, p.version)]
            if self._loaded.get(p.name) != (p.version, cp):
                p.load(conn)
            self._feed(p, cp, batch.events)

    def _write(self, conn: Connection, batch: _Batch) -> None:
        for p in batch.behind:
            try:
                p.flush(conn)
            except EventRejected as x:
                cp = batch.checkpoints[(p.name, p.version)]
                raise self._failed(p, x.position, x.event_type, x.reason, cp) from x
            set_checkpoint(conn, p.name, p.version, batch.upto)
            self._loaded[p.name] = (p.version, batch.upto)

    def _feed(self, p: Projection, cp: int, events: Sequence[LogEvent]) -> None:
        wanted, apply = p.topics, p.apply
        if events and events[0].position <= cp:  # a projection ahead of the others
            events = [e for e in events if e.position > cp]
        if wanted is not None:
            events = [e for e in events if e.topic in wanted]
        e: LogEvent | None = None
        try:
            for e in events:
                apply(e)
        except EventRejected as x:
            raise self._failed(p, x.position, x.event_type, x.reason, cp) from x
        except Exception as x:  # fail-stop: whatever the cause, name the event and stop
            if e is None:
                raise
            raise self._failed(p, e.position, e.type_name, f"{type(x).__name__}: {x}", cp) from x

    def _failed(
        self, p: Projection, position: int, event_type: str, reason: str, cp: int
    ) -> ProjectionFailed:
        return ProjectionFailed(p.name, p.version, position, event_type, reason, cp)

    def _bind(self, conn: Connection) -> list[Projection]:
        """The projection objects of the versions to run (live ones unless fixed)."""
        versions = self._fixed if self._fixed is not None else live_versions(conn, lock=True)
        out = []
        for name in self.active:
            version = versions.get(name)
            if version is None:
                raise ProjectionNotSetUp(f"projection {name!r} is not set up")
            p = self._projections.get(name)
            if p is None or p.version != version:
                p = self._projections[name] = projection_class(name)(version, self.codec)
                self._loaded.pop(name, None)
            out.append(p)
        return out

    def _forget(self) -> None:
        """After a rollback: drop batches and in-memory state; reload before the next one."""
        for p in self._projections.values():
            p.discard()
        self._loaded.clear()
