"""Blue/green rebuild: build projections afresh under a new version, then swap.

1. In one transaction, pick version N+1 (above every version ever built) for each
   named projection, create its tables (secondary indexes deferred) and a checkpoint 0.
2. Run the new versions from the start of the log to its head in batches, exactly like
   the live runner, but on versions no reader sees. The live ones keep serving and
   keep following the log meanwhile (`ledger serve` is not interrupted).
3. Build the secondary indexes (much faster on loaded tables than row by row).
4. In one transaction, under an exclusive lock on the version rows: catch up the last
   events, then point `proj_versions` at the new versions. Readers and the live runner
   resolve the version in each transaction, so they switch atomically.
5. Drop the old versions' tables and checkpoints (a reader that resolved the old version
   just before the swap retries; see `readers.read`).

One rebuild at a time per projection: a second one would drop the first one's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, MetaData, select

from domain.codec import EventCodec
from projections.log import EventSource
from projections.registry import projection_class, resolve_names, tables_of
from projections.runner import DEFAULT_BATCH, Progress, ProjectionRunner, Step, set_up
from projections.schema import (
    add_checkpoint,
    create_indexes,
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
    read: int  # events read: each once for all projections, only the topics they use
    position: int  # the log position the new versions had reached at the swap


def rebuild(
    engine: Engine,
    source: EventSource,
    names: Sequence[str],
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    codec: EventCodec | None = None,
) -> Rebuilt:
    names = resolve_names(names)
    set_up(engine, names)
    with engine.begin() as conn:
        serialize_setup(conn)
        live = live_versions(conn)
        new = {n: max(known_versions(conn, n) | {live[n]}) + 1 for n in names}
        for n, v in new.items():
            create_tables(conn, projection_class(n).define(MetaData(), v), indexes=False)
            add_checkpoint(conn, n, v)
    try:
        covered, read, old, head = _build_and_swap(engine, source, new, batch_size, progress, codec)
    except BaseException:
        with engine.begin() as conn:  # leave no half-built version behind
            for n, v in new.items():
                drop_tables(conn, tables_of(n, v).values())
                delete_checkpoint(conn, n, v)
        raise
    with engine.begin() as conn:
        _drop_others(conn, new)
    return Rebuilt({n: (old[n], new[n]) for n in names}, covered, read, head)


def _build_and_swap(
    engine: Engine,
    source: EventSource,
    new: dict[str, int],
    batch_size: int,
    progress: Progress | None,
    codec: EventCodec | None,
) -> tuple[int, int, dict[str, int], int]:
    runner = ProjectionRunner(
        engine, source, list(new), batch_size=batch_size, codec=codec, versions=new
    )
    covered = read = 0

    def count(step: Step, head: int) -> None:
        nonlocal covered, read
        covered, read = covered + step.span, read + step.events

    def counted(step: Step, head: int) -> None:
        count(step, head)
        if progress is not None:
            progress(step, head)

    runner.catch_up(counted)
    with engine.begin() as conn:
        create_indexes(conn, [t for n, v in new.items() for t in tables_of(n, v).values()])
    with engine.begin() as conn:
        conn.execute(select(versions_table.c.projection).with_for_update())
        while True:  # no progress callback here: it must not run under the write lock
            step, head = runner.step(conn)
            count(step, head)
            if step.span == 0:
                break
        old = live_versions(conn)
        set_live_versions(conn, new)
    return covered, read, old, head


def _drop_others(conn: Connection, live: dict[str, int]) -> None:
    """Drop every version of these projections but the live one."""
    for name, keep in live.items():
        for v in sorted(known_versions(conn, name) - {keep}):
            drop_tables(conn, tables_of(name, v).values())
            delete_checkpoint(conn, name, v)
