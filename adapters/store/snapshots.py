"""The `ledger_snapshots` table: whole-ledger snapshots, persisted next to the log.

A snapshot saves a replay from re-applying the log up to its position. It is only as
good as the proof that it describes *this* log, so each row carries:

- `position` (primary key): the last event the snapshot includes;
- `event_hash`: the chain hash of that event. The chain hashes the whole prefix, so a
  matching hash binds the snapshot to this exact prefix of this exact log (a snapshot
  copied from another store, or taken before a log was rebuilt, does not match);
- `format` and `code_version`: the layout, and a digest of the domain code that built
  the state (a snapshot taken by other code may hold a state this code would not reach);
- `config_fingerprint`: the ledger configuration the state was built with;
- `recorded_at` (µs, from the injected clock) and `state` (`domain.snapshot` bytes).

Readers use a snapshot only when all of these match and otherwise fall back to the
log: a missing, foreign or stale snapshot costs time, never correctness. The table is
append-only like the event table (triggers on both stores, INSERT + SELECT for the
writer role only: `ledger db init`). Nothing here decides *when* to take one: that is
the writer's job (`ledger serve`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

import domain
from adapters.store.postgres import LedgerPostgresRecorder
from adapters.store.postgres import append_only_triggers as pg_append_only_triggers
from adapters.store.sqlite import LedgerSQLiteRecorder, append_only_triggers
from domain.ledger import LedgerConfig
from domain.order import Order
from domain.snapshot import FORMAT, RowRenderer
from projections.views import order_row

TABLE = "ledger_snapshots"

Recorder = LedgerSQLiteRecorder | LedgerPostgresRecorder

_COLUMNS = "position, event_hash, format, code_version, config_fingerprint, recorded_at"


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    position: int
    event_hash: bytes
    format: int
    code_version: str
    config_fingerprint: str
    recorded_at: int
    state: bytes = b""  # empty in listings: the state is read only when it is used


class SnapshotPositionError(ValueError):
    """A snapshot was asked for at a position the log does not have."""


_CODE_VERSION: list[str] = []


def code_version() -> str:
    """A digest of the domain's source (the code that defines the state and `apply`),
    with the snapshot format: any change to either retires older snapshots."""
    if not _CODE_VERSION:
        digest = hashlib.sha256(f"format {FORMAT}\n".encode())
        for path in sorted(Path(domain.__file__).parent.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        _CODE_VERSION.append(digest.hexdigest()[:32])
    return _CODE_VERSION[0]


def config_fingerprint(config: LedgerConfig) -> str:
    """A digest of what the configuration contributes to the state: the account as
    opened, the risk limits and the instruments table."""
    instruments = [(k, repr(v)) for k, v in config.instruments.items()]
    text = repr((config.account, config.currency, str(config.starting_equity), config.limits))
    return hashlib.sha256(orjson.dumps([text, instruments])).hexdigest()[:32]


# ============================================================================ rows


def _render_as_of_row(o: Order) -> bytes:
    # `replay --as-of --format json` prints orjson with a 2-space indent, order rows one
    # level down in `orders`: the same bytes, shifted by that level's 4 spaces.
    return orjson.dumps(order_row(o), option=orjson.OPT_INDENT_2).replace(b"\n", b"\n    ")


AS_OF_ROWS = RowRenderer(_render_as_of_row, b",\n    ")


# ============================================================================ the table


class SnapshotTable:
    """The snapshot rows of one store, through its recorder's connections."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._pg = isinstance(recorder, LedgerPostgresRecorder)
        self._name: Any = SQL(TABLE)
        if isinstance(recorder, LedgerPostgresRecorder):
            self._name = SQL("{}.{}").format(
                Identifier(recorder.datastore.schema), Identifier(TABLE)
            )

    # ------------------------------------------------------------------ schema

    def create(self) -> None:
        """Create the table and its append-only triggers (idempotent). On PostgreSQL this
        needs the owner's rights: `ledger db init` does it."""
        with self._cursor(commit=True) as cur:
            for statement in self._ddl():
                cur.execute(statement)

    def _ddl(self) -> list[Any]:
        if not self._pg:
            return [
                f"CREATE TABLE IF NOT EXISTS {TABLE} (position INTEGER PRIMARY KEY, "
                "event_hash BLOB NOT NULL, format INTEGER NOT NULL, code_version TEXT NOT NULL, "
                "config_fingerprint TEXT NOT NULL, recorded_at INTEGER NOT NULL, "
                "state BLOB NOT NULL)",
                *append_only_triggers(TABLE),
            ]
        schema = self._schema()
        out: list[Composed] = [
            SQL(
                "CREATE TABLE IF NOT EXISTS {t} (position bigint PRIMARY KEY, "
                "event_hash bytea NOT NULL, format integer NOT NULL, code_version text NOT NULL, "
                "config_fingerprint text NOT NULL, recorded_at bigint NOT NULL, "
                "state bytea NOT NULL)"
            ).format(t=self._name),
            # Stored as it is: a snapshot is mostly LZ4 blocks of rows and zlib parts, and
            # PostgreSQL's own compression would cost every read its decompression.
            SQL("ALTER TABLE {t} ALTER COLUMN state SET STORAGE EXTERNAL").format(t=self._name),
        ]
        out.extend(pg_append_only_triggers(schema, TABLE))
        return out

    def _schema(self) -> str:
        rec = self.recorder
        return rec.datastore.schema if isinstance(rec, LedgerPostgresRecorder) else ""

    def exists(self) -> bool:
        with self._cursor(commit=False) as cur:
            if self._pg:
                cur.execute("SELECT to_regclass(%s) AS t", (f'"{self._schema()}".{TABLE}',))
                row = cur.fetchone()
                return bool(row and row["t"])
            cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,))
            return cur.fetchone() is not None

    # ------------------------------------------------------------------ rows

    def record_of(
        self, position: int, state: bytes, config: LedgerConfig, recorded_at: int
    ) -> SnapshotRecord:
        """The row for `state` (`domain.snapshot` bytes of the ledger after event
        `position`), bound to the log by that event's chain hash."""
        rows = self.recorder.chain_rows(position, 1, position)
        if not rows:
            raise SnapshotPositionError(f"no event at position {position} to snapshot")
        return SnapshotRecord(
            position,
            bytes(rows[0][6]),
            FORMAT,
            code_version(),
            config_fingerprint(config),
            recorded_at,
            state,
        )

    def append(self, record: SnapshotRecord) -> bool:
        """Insert one snapshot; False when one is already recorded at that position."""
        values = (
            record.position,
            record.event_hash,
            record.format,
            record.code_version,
            record.config_fingerprint,
            record.recorded_at,
            record.state,
        )
        marks = ", ".join(["%s"] * len(values))
        with self._cursor(commit=True) as cur:
            cur.execute(
                self._q(
                    f"INSERT INTO {{t}} ({_COLUMNS}, state) VALUES ({marks}) "
                    "ON CONFLICT (position) DO NOTHING RETURNING position"
                ),
                values,
            )
            return cur.fetchone() is not None

    def candidates(
        self, at_most: int, fmt: int, version: str, fingerprint: str, limit: int = 4
    ) -> list[SnapshotRecord]:
        """The latest snapshots at or before `at_most` that this code could use, newest
        first, without their state."""
        with self._cursor(commit=False) as cur:
            cur.execute(
                self._q(
                    f"SELECT {_COLUMNS} FROM {{t}} WHERE position <= %s AND format = %s "
                    "AND code_version = %s AND config_fingerprint = %s "
                    "ORDER BY position DESC LIMIT %s"
                ),
                (at_most, fmt, version, fingerprint, limit),
            )
            return [SnapshotRecord(*_values(r)) for r in cur.fetchall()]

    def latest_position(self) -> int:
        """The position of the latest snapshot (any code, any configuration); 0 if none."""
        with self._cursor(commit=False) as cur:
            cur.execute(self._q("SELECT max(position) AS p FROM {t}"))
            row = cur.fetchone()
        return int((_values(row)[0] if row else None) or 0)

    def has(self, position: int) -> bool:
        """Whether a snapshot (of any code) is recorded at `position`."""
        with self._cursor(commit=False) as cur:
            cur.execute(self._q("SELECT 1 FROM {t} WHERE position = %s"), (position,))
            return cur.fetchone() is not None

    def state(self, position: int) -> bytes:
        rec = self.recorder
        if isinstance(rec, LedgerSQLiteRecorder):
            return self._sqlite_state(rec, position)
        # Binary transfer: as text, bytea would travel hex-encoded, twice its size.
        with (
            rec.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cur,
        ):
            cur.execute(self._q("SELECT state FROM {t} WHERE position = %s"), (position,))
            row = cur.fetchone()
        return bytes(row[0]) if row else b""

    def reader(self, position: int) -> Callable[[int, int], bytes]:
        """A reader of byte ranges of the snapshot at `position` ((offset, length) ->
        bytes): a reader of a large snapshot reads only the parts it uses."""
        rec = self.recorder
        if isinstance(rec, LedgerSQLiteRecorder):

            def read_sqlite(at: int, n: int) -> bytes:
                with rec.datastore.get_connection(commit=False) as conn:
                    raw = conn._sqlite_conn  # the driver connection, as the recorder uses it
                    with raw.blobopen(TABLE, "state", position, readonly=True) as blob:
                        blob.seek(at)
                        return blob.read(n)

            return read_sqlite
        statement = self._q("SELECT substring(state FROM %s FOR %s) FROM {t} WHERE position = %s")

        def read_postgres(at: int, n: int) -> bytes:
            # EXTERNAL storage (see _ddl): PostgreSQL reads only the slices asked for.
            with (
                rec.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row, binary=True) as cur,
            ):
                cur.execute(statement, (at + 1, n, position))
                row = cur.fetchone()
            return bytes(row[0]) if row else b""

        return read_postgres

    @staticmethod
    def _sqlite_state(recorder: LedgerSQLiteRecorder, position: int) -> bytes:
        # Incremental blob I/O reads the pages straight into one Python buffer; a SELECT
        # would build the tens of megabytes twice (SQLite's copy, then Python's).
        with recorder.datastore.get_connection(commit=False) as conn:
            raw = conn._sqlite_conn  # the driver connection, as the recorder uses it
            if raw.execute(f"SELECT 1 FROM {TABLE} WHERE position = ?", (position,)).fetchone():
                with raw.blobopen(TABLE, "state", position, readonly=True) as blob:
                    return blob.read()
        return b""

    def _q(self, template: str) -> Any:
        # One statement text for both stores: `{t}` the table, `%s` a parameter.
        if self._pg:
            return SQL(template).format(t=self._name)
        return template.replace("{t}", TABLE).replace("%s", "?")

    def _cursor(self, *, commit: bool) -> Any:
        return self.recorder.datastore.transaction(commit=commit)


def _values(row: Any) -> list[Any]:
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return [bytes(v) if isinstance(v, memoryview) else v for v in values]


def iter_records(
    table: SnapshotTable, at_most: int, config: LedgerConfig
) -> Iterator[SnapshotRecord]:
    """Candidates for a replay under this code and configuration, newest first."""
    yield from table.candidates(at_most, FORMAT, code_version(), config_fingerprint(config))
