"""Where each outbound publisher has got to in the log, and the log after it.

Checkpoints are rows of the projections' `proj_checkpoints` table (projections/schema.py),
in the ledger's own database. A publisher is a projection whose "rows" are Kafka
records: it reads the log after its checkpoint, publishes, and only then moves the
checkpoint (at-least-once; a crash in between re-publishes, and consumers deduplicate
by the event id header). The checkpoint is written in its own short transaction,
never held open across the network, so a slow broker cannot keep the SQLite write
lock from the ingest.

The log is read here too, through the projections' engines and SQL (raw rows, no
`Notification`/`UUID` per row), on the publisher's own thread and connection: the
ledger thread is then free to decide and commit the next batch while this one goes
out. Readers see committed rows only, and in position order (SQLite writers are
serialised; PostgreSQL writers take the log's table lock), so a page never skips an
event that a later read would show before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from adapters.projections.engine import ProjectionStore
from projections.log import LogEvent
from projections.schema import (
    add_checkpoint,
    checkpoints,
    ensure_core_tables,
    serialize_setup,
    set_checkpoint,
)

# Publishers have one version: a "rebuild" of a publisher would only re-send the log.
PUBLISHER_VERSION = 1


class CheckpointStore(Protocol):
    def load(self, names: Sequence[str]) -> dict[str, int]:
        """Each publisher's position (0 for a new one, which is created)."""
        ...

    def save(self, positions: Mapping[str, int]) -> None:
        """Move the named publishers' checkpoints, in one transaction."""
        ...

    def read_log(self, after: int, limit: int) -> tuple[list[LogEvent], bool]:
        """Up to `limit` events after position `after`, in log order, and whether the
        log holds more beyond them."""
        ...


class SqlCheckpoints:
    """`proj_checkpoints` rows (projection = publisher name, version 1) and the log, via
    the projections' engines (`open_projection_store(url)`)."""

    def __init__(self, store: ProjectionStore) -> None:
        self.store = store
        self.engine = store.engine

    def load(self, names: Sequence[str]) -> dict[str, int]:
        keys = [(n, PUBLISHER_VERSION) for n in names]
        with self.engine.begin() as conn:
            serialize_setup(conn)
            ensure_core_tables(conn)
            found = checkpoints(conn, keys)
            for key in keys:
                if key not in found:
                    add_checkpoint(conn, key[0], PUBLISHER_VERSION)
                    found[key] = 0
        return {name: found[(name, version)] for name, version in keys}

    def save(self, positions: Mapping[str, int]) -> None:
        with self.engine.begin() as conn:
            for name, position in positions.items():
                set_checkpoint(conn, name, PUBLISHER_VERSION, position)

    def read_log(self, after: int, limit: int) -> tuple[list[LogEvent], bool]:
        # A reading transaction (a WAL snapshot on SQLite: it never waits for the writer).
        with self.store.read_engine.begin() as conn:
            rows = self.store.source.chain_rows(conn, after, limit)
        return [LogEvent(r[0], _dashed(r[1]), r[2], r[3], r[4], r[5]) for r in rows], len(
            rows
        ) == limit

    def close(self) -> None:
        """Dispose of the engine: only when it is this object's own, not the serve loop's."""
        self.store.close()


def _dashed(hex32: str) -> str:
    """The chain rows name the originator by its 32 hex digits; records carry the UUID text."""
    h = hex32
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
