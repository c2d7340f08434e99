"""The SQLite log reader: originators as UUID text (dashed in Python, remembered)."""

from __future__ import annotations

from uuid import UUID, uuid4

from sqlalchemy import create_engine

from adapters.projections.source import SQLiteEventSource

_TABLE = (
    "CREATE TABLE ledger_events (originator_id TEXT NOT NULL, originator_version INTEGER "
    "NOT NULL, topic TEXT NOT NULL, state BLOB NOT NULL, recorded_at INTEGER NOT NULL, "
    "hash BLOB NOT NULL, PRIMARY KEY (originator_id, originator_version))"
)


def test_originators_read_as_uuid_text_whatever_the_cache_holds() -> None:
    ids = [uuid4() for _ in range(3)]
    rows = [(u.hex, v) for v in (1, 2) for u in ids] + [("not-a-hex-id", 1)]
    engine = create_engine("sqlite://")
    source = SQLiteEventSource()
    with engine.begin() as conn:
        conn.exec_driver_sql(_TABLE)
        conn.exec_driver_sql(
            "INSERT INTO ledger_events VALUES (?, ?, 'domain.events:X', ?, 7, x'00')",
            [(hex_id, v, b"{}") for hex_id, v in rows],
        )
        for _ in range(2):  # the second read finds every originator remembered
            events = source.read(conn, 0, source.head(conn), None)
            assert [e.originator_id for e in events] == [
                str(UUID(h)) if len(h) == 32 else h for h, _ in rows
            ]
            assert [e.position for e in events] == list(range(1, len(rows) + 1))
            assert all(e.state == b"{}" and e.recorded_at == 7 for e in events)
