"""Blue/green rebuild: build projections afresh under a new version, then swap.

1. In one transaction, pick version N+1 (above every version ever built) for each
   named projection, create its tables (secondary indexes deferred) and a checkpoint 0.
2. Run the new versions from the start of the log to its head in batches, exactly like
   the live runner, but on versions no reader sees (`projections.build`: with a read
   engine, each batch is read and applied outside the write lock, and the work may be
   split in two processes). The live ones keep serving and keep following the log
   meanwhile (`ledger serve` is not interrupted).
3. Build the secondary indexes (much faster on loaded tables than row by row).
4. In one transaction, under an exclusive lock on the version rows: catch up the last
   events, then point `proj_versions` at the new versions. Readers and the live runner
   resolve the version in each transaction, so they switch atomically.
5. Drop the old versions' tables and checkpoints (a reader that resolved the old version
   just before the swap retries; see `readers.read`).

One rebuild at a time per projection: a second one would drop the first one's tables.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, MetaData, select

from domain.codec import EventCodec
from projections.build import build
from projections.log import EventSource
from projections.registry import projection_class, resolve_names, tables_of
from projections.runner import DEFAULT_BATCH, Progress, ProjectionRunner, set_up
from projections.schema import (
    add_checkpoint,
    create_tables,
    delete_checkpoint,
    drop_tables,
    known_versions,
    live_versions,
    serialize_setup,
    set_live_versions,
    versions_table,
)


@dataclass(frozen=True)
class Rebuilt:
    versions: dict[str, tuple[int, int]]  # projection -> (old version, new version)
    events: int  # log positions covered (the log's events up to the swap)
    read: int  # events read: once per build process, only the topics its projections use
    position: int  # the log position the new versions had reached at the swap


def rebuild(
    engine: Engine,
    source: EventSource,
    names: Sequence[str],
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    codec: EventCodec | None = None,
    read_engine: Engine | None = None,
    jobs: int = 1,
) -> Rebuilt:
    """Rebuild `names`. With `read_engine` (reading transactions that do not take the
    write lock), batches are applied outside the write lock and `jobs` 2 builds in two
    processes (`projections.build`)."""
    with _few_collections():
        return _rebuild(
            engine,
            source,
            resolve_names(names),
            _Options(batch_size, progress, codec, read_engine, jobs),
        )


@dataclass(frozen=True)
class _Options:
    batch_size: int
    progress: Progress | None
    codec: EventCodec | None
    read_engine: Engine | None
    jobs: int


@contextmanager
def _few_collections() -> Iterator[None]:
    """Young-generation garbage collections every 100,000 allocations instead of 700.

    A rebuild allocates millions of short-lived objects (events, rows) that live for a
    batch and die by reference counting, never in cycles. With the default threshold the
    collector runs thousands of times per batch, each time scanning the live batch again:
    a fifth of a rebuild's CPU time. The thresholds are the process's; they are restored.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _rebuild(engine: Engine, source: EventSource, names: list[str], o: _Options) -> Rebuilt:
    set_up(engine, names)
    with engine.begin() as conn:
        serialize_setup(conn)
        live = live_versions(conn)
        new = {n: max(known_versions(conn, n) | {live[n]}) + 1 for n in names}
        for n, v in new.items():
            create_tables(conn, projection_class(n).define(MetaData(), v), indexes=False)
            add_checkpoint(conn, n, v)
    try:
        read = build(
            engine,
            source,
            new,
            batch_size=o.batch_size,
            codec=o.codec,
            read_engine=o.read_engine,
            jobs=o.jobs,
            progress=o.progress,
        )
        more, old, head = _swap(engine, source, new, o)
    except BaseException:
        with engine.begin() as conn:  # leave no half-built version behind
            for n, v in new.items():
                drop_tables(conn, tables_of(n, v).values())
                delete_checkpoint(conn, n, v)
        raise
    with engine.begin() as conn:
        _drop_others(conn, new)
    return Rebuilt({n: (old[n], new[n]) for n in names}, head, read + more, head)


def _swap(
    engine: Engine, source: EventSource, new: dict[str, int], o: _Options
) -> tuple[int, dict[str, int], int]:
    """Under an exclusive lock on the version rows: the last events, then the switch.
    Returns the events read, the versions that were live, the position reached."""
    runner = ProjectionRunner(
        engine, source, list(new), batch_size=o.batch_size, codec=o.codec, versions=new
    )
    read = 0
    with engine.begin() as conn:
        conn.execute(select(versions_table.c.projection).with_for_update())
        while True:  # no progress callback here: it must not run under the write lock
            step, head = runner.step(conn)
            read += step.events
            if step.span == 0:
                break
        old = live_versions(conn)
        set_live_versions(conn, new)
    return read, old, head


def _drop_others(conn: Connection, live: dict[str, int]) -> None:
    """Drop every version of these projections but the live one."""
    for name, keep in live.items():
        for v in sorted(known_versions(conn, name) - {keep}):
            drop_tables(conn, tables_of(name, v).values())
            delete_checkpoint(conn, name, v)
