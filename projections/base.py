"""What a projection is: versioned tables, `apply` per event, `flush` per batch.

The runner (`projections.runner`) feeds a projection the events after its
checkpoint in batches. `apply` only accumulates in memory; `flush` writes the
batch's rows with a few multi-row statements, and the runner then writes the
checkpoint in the same transaction. A projection that cannot process an event
raises; the runner turns that into `ProjectionFailed` naming the event, rolls the
batch back and never moves the checkpoint past it (fail-stop, nothing skipped).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import Connection, MetaData, Table
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from domain.codec import EventCodec
from projections.log import LogEvent
from projections.schema import table_name


class ProjectionError(Exception):
    """Base class of the projections' errors."""


class UnknownProjection(ProjectionError):
    """A projection name that does not exist."""


class EventRejected(ProjectionError):
    """Raised by a projection: this event cannot be processed (the runner names it)."""

    def __init__(self, position: int, event_type: str, reason: str) -> None:
        super().__init__(reason)
        self.position = position
        self.event_type = event_type
        self.reason = reason


class ProjectionFailed(ProjectionError):
    """A projection stopped at an event it cannot process; it resumes from its checkpoint."""

    def __init__(
        self,
        projection: str,
        version: int,
        position: int,
        event_type: str,
        reason: str,
        checkpoint: int,
    ) -> None:
        super().__init__(
            f"projection {projection!r} (v{version}) stopped at global position {position} "
            f"({event_type}): {reason}; its checkpoint stays at {checkpoint} and it resumes "
            "from there when restarted"
        )
        self.projection = projection
        self.version = version
        self.position = position
        self.event_type = event_type
        self.reason = reason
        self.checkpoint = checkpoint


class Projection(ABC):
    """One read model. Subclasses define `name`, `topics` and their tables per version."""

    name: ClassVar[str]
    topics: ClassVar[frozenset[str] | None]  # stored topics it reads; None = every event

    def __init__(self, version: int, codec: EventCodec) -> None:
        self.version = version
        self.codec = codec
        self.metadata = MetaData()
        self.tables: dict[str, Table] = {t.name: t for t in self.define(self.metadata, version)}

    @classmethod
    @abstractmethod
    def define(cls, metadata: MetaData, version: int) -> Sequence[Table]:
        """The tables of this version (names from `schema.table_name`)."""

    def table(self, base: str) -> Table:
        return self.tables[table_name(base, self.version)]

    def load(self, conn: Connection) -> None:  # noqa: B027 - most projections keep no state
        """Restore in-memory state from the tables (for projections that keep any)."""

    @abstractmethod
    def apply(self, event: LogEvent) -> None:
        """Take one event into the batch (memory only)."""

    @abstractmethod
    def flush(self, conn: Connection) -> None:
        """Write the batch; called once per transaction, before the checkpoint."""

    @abstractmethod
    def discard(self) -> None:
        """Forget the batch and any loaded state (the transaction was rolled back)."""


def insert_rows(conn: Connection, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """New rows as tuples in column order, straight to the driver: an executemany INSERT
    (SQLite), COPY (PostgreSQL).

    This is the hot path of a rebuild (one audit row per event): building dicts for
    SQLAlchemy's parameter processing costs about twice the insert itself.
    """
    if not rows:
        return
    dialect = conn.dialect
    prep = dialect.identifier_preparer
    cols = ", ".join(prep.quote(c.name) for c in table.columns)
    if dialect.name == "postgresql":
        _copy_rows(conn, f"COPY {prep.format_table(table)} ({cols}) FROM STDIN", rows)
        return
    marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in table.columns)
    conn.exec_driver_sql(
        f"INSERT INTO {prep.format_table(table)} ({cols}) VALUES ({marks})", list(rows)
    )


def _copy_rows(conn: Connection, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL: stream the rows with COPY on the connection's own transaction.

    psycopg's executemany sends one Bind/Execute per row through Python code (pipeline
    mode), which costs several times the rows themselves; COPY streams them. A row the
    table refuses (a duplicate key) raises SQLAlchemy's IntegrityError, as an INSERT would.
    """
    dbapi: Any = conn.connection.dbapi_connection
    cursor = dbapi.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.dbapi.IntegrityError as e:  # type: ignore[union-attr]
        raise IntegrityError(statement, None, e) from e
    finally:
        cursor.close()


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    *,
    add: Sequence[str] = (),
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE: replace the other columns, or add to the
    `add` columns (counters). Few rows per batch, so SQLAlchemy's own insert is fine here."""
    if not rows:
        return
    stmt: pg.Insert | sqlite.Insert = (
        pg.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    )
    values = {
        c.name: (table.c[c.name] + stmt.excluded[c.name])
        if c.name in add
        else stmt.excluded[c.name]
        for c in table.columns
        if c.name not in keys
    }
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=values), list(rows))
