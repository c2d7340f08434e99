"""Where each outbound publisher has got to in the log: rows of the projections'
`proj_checkpoints` table (projections/schema.py), in the ledger's own database.

A publisher is a projection whose "rows" are Kafka records: it reads the log after
its checkpoint, publishes, and only then moves the checkpoint (at-least-once; a
crash in between re-publishes, and consumers deduplicate by the event id header).
The checkpoint is written in its own short transaction, never held open across the
network, so a slow broker cannot keep the SQLite write lock from the ingest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy import Engine

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


class SqlCheckpoints:
    """`proj_checkpoints` rows (projection = publisher name, version 1) via SQLAlchemy, on
    the projections' writing engine (`open_projection_store(url).engine`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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

    def close(self) -> None:
        """Dispose of the engine: only when it is this object's own, not the serve loop's."""
        self.engine.dispose()
