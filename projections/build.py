"""Building new versions of projections from the log: in this process, or in two.

A rebuild is CPU-bound Python (rows read, JSON parsed, events applied, rows inserted),
and one process uses one core. Given a read engine, every batch is read and applied
outside the write transaction (`ProjectionRunner.run_detached`: a read snapshot, then
a short write transaction for the rows and checkpoints), so two processes can build at
once: the projections that read every event (the audit index, the counters) in a
forked worker, the others here. Each process reads the log itself (a small part of the
cost) and builds the secondary indexes of its own tables once it has caught up. The
versions being built are not live: no other process writes them, and the checkpoints
are checked under the write lock anyway.

Fork, not spawn: the worker starts in milliseconds with the code and the engine it
needs. No database connection crosses the fork: the pool is emptied first (a SQLite or
psycopg connection must never be used by two processes).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection as Pipe
from typing import Any

from sqlalchemy import Engine

from domain.codec import EventCodec
from projections.base import ProjectionError, ProjectionFailed
from projections.log import EventSource
from projections.registry import projection_class, tables_of
from projections.runner import Progress, ProjectionRunner, Step
from projections.schema import create_indexes

_POLL_SECONDS = 0.25
_CAN_FORK = "fork" in multiprocessing.get_all_start_methods()  # not on Windows: one process


class BuildWorkerFailed(ProjectionError):
    """The worker process stopped on something else than an event (it is named)."""


def build(
    engine: Engine,
    source: EventSource,
    versions: Mapping[str, int],
    *,
    batch_size: int,
    codec: EventCodec | None = None,
    read_engine: Engine | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
) -> int:
    """Catch these (not live) versions up with the log's head and build their indexes.

    Returns the events read. `jobs` 2 (with a read engine) splits the work in two
    processes when the projections fall in two groups; otherwise it runs here.
    """
    parallel = jobs > 1 and read_engine is not None and _CAN_FORK
    groups = split(list(versions)) if parallel else [list(versions)]
    if len(groups) == 1:
        return _build(engine, read_engine, source, dict(versions), batch_size, codec, progress)
    mine, theirs = ({n: versions[n] for n in g} for g in groups)
    return _build_in_two(engine, read_engine, source, mine, theirs, batch_size, codec, progress)


def split(names: Sequence[str]) -> list[list[str]]:
    """Two groups of about equal cost: the projections that read only some topics, and
    those that read every event (one row or count per event)."""
    some = [n for n in names if projection_class(n).topics is not None]
    every = [n for n in names if projection_class(n).topics is None]
    return [g for g in (some, every) if g]


def _build(
    engine: Engine,
    read_engine: Engine | None,
    source: EventSource,
    versions: dict[str, int],
    batch_size: int,
    codec: EventCodec | None,
    progress: Progress | None,
) -> int:
    runner = ProjectionRunner(
        engine, source, list(versions), batch_size=batch_size, codec=codec, versions=versions
    )
    read = 0
    while True:
        if read_engine is not None:
            step, head = runner.run_detached(read_engine)
        else:
            step, head = runner.run_once()
        if step.span == 0:
            break
        read += step.events
        if progress is not None:
            progress(step, head)
    with engine.begin() as conn:
        create_indexes(conn, [t for n, v in versions.items() for t in tables_of(n, v).values()])
    return read


def _build_in_two(
    engine: Engine,
    read_engine: Engine | None,
    source: EventSource,
    mine: dict[str, int],
    theirs: dict[str, int],
    batch_size: int,
    codec: EventCodec | None,
    progress: Progress | None,
) -> int:
    ctx = multiprocessing.get_context("fork")
    reached = ctx.Array("q", 2, lock=False)  # the position each process has reached
    receive, send = ctx.Pipe(duplex=False)
    engine.dispose()  # no connection crosses the fork
    worker = ctx.Process(
        target=_worker,
        args=(send, engine, read_engine, source, theirs, batch_size, codec, reached),
        name="projection-build",
        daemon=True,
    )
    worker.start()
    send.close()
    head = 0

    def report(step: Step, at_head: int) -> None:
        nonlocal head
        reached[0], head = step.upto, at_head
        if progress is not None:
            progress(Step(step.span, step.events, min(reached)), head)

    try:
        read = _build(engine, read_engine, source, mine, batch_size, codec, report)
        while not receive.poll(_POLL_SECONDS) and worker.is_alive():
            if progress is not None and head:
                progress(Step(0, 0, min(reached[1], head)), head)
        outcome = receive.recv() if receive.poll() else ("error", "exited without a word")
    finally:
        if worker.is_alive():
            worker.terminate()  # this process failed: stop the other half too
        worker.join()
        receive.close()
    kind, value = outcome
    if kind == "ok":
        return read + int(value)
    if kind == "failed":
        raise ProjectionFailed(*value)
    raise BuildWorkerFailed(f"the build worker for {', '.join(theirs)} failed: {value}")


def _worker(
    send: Pipe,
    engine: Engine,
    read_engine: Engine | None,
    source: EventSource,
    versions: dict[str, int],
    batch_size: int,
    codec: EventCodec | None,
    reached: Any,
) -> None:
    def report(step: Step, head: int) -> None:
        reached[1] = step.upto

    try:
        send.send(("ok", _build(engine, read_engine, source, versions, batch_size, codec, report)))
    except ProjectionFailed as f:
        fields = (f.projection, f.version, f.position, f.event_type, f.reason, f.checkpoint)
        send.send(("failed", fields))
    except BaseException as e:
        send.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        send.close()
