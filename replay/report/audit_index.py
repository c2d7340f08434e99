"""The `audit_index` read model as the source of audit rows (the seam to the projections).

The index finds the positions (by intent, symbol, type, time) without scanning the
log; the events at those positions are then read from the log for what the index does
not hold (the one-line summary, who ran a kill-switch command). Like every reading
command, it first catches the projection up, so it sees everything written before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, select
from sqlalchemy.exc import SQLAlchemyError

from adapters.projections import open_projection_store
from projections.base import ProjectionError
from projections.registry import table_of
from projections.runner import ProjectionRunner, set_up
from projections.schema import live_versions
from projections.views import Row, iso
from replay.report.audit import AuditQuery, events_at, is_manual
from replay.report.events import summary
from replay.state import EventLog

NAME = "audit_index"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Note = Callable[[str], None]


class AuditIndexUnavailable(Exception):
    """The audit index cannot be read (not set up and cannot be, or the database refuses)."""


def _query(conn: Connection, query: AuditQuery) -> list[Any]:
    versions = live_versions(conn)
    if NAME not in versions:
        raise AuditIndexUnavailable("the audit index is not set up")
    c = table_of(NAME, versions[NAME], NAME).c
    q: Select[Any] = select(
        c.position,
        c.aggregate_type,
        c.aggregate_id,
        c.event_type,
        c.intent_id,
        c.symbol,
        c.occurred_at,
        c.recorded_at,
        c.source,
    ).where(c.position > query.after)
    if query.upto is not None:
        q = q.where(c.position <= query.upto)
    if query.order is not None:
        q = q.where(c.intent_id == str(query.order))
    if query.symbol is not None:
        q = q.where(c.symbol == query.symbol)
    names = query.type_names()
    if names is not None:
        q = q.where(c.event_type.in_(sorted(names)))
    return list(conn.execute(q.order_by(c.position)).all())


def rows_from_index(url: str, log: EventLog, query: AuditQuery, note: Note) -> list[Row]:
    """Audit rows found through the index, caught up first. Raises AuditIndexUnavailable."""
    try:
        store = open_projection_store(url)
    except Exception as e:  # a store the log could open but the read models cannot
        raise AuditIndexUnavailable(str(e)) from e
    try:
        try:
            set_up(store.engine, [NAME])
            ProjectionRunner(store.engine, store.source, [NAME]).catch_up()
        except (SQLAlchemyError, ProjectionError) as e:
            note(f"audit index not caught up ({type(e).__name__}: {e}); reading it as it is")
        with store.read_engine.connect() as conn:
            found = _query(conn, query)
    except SQLAlchemyError as e:
        raise AuditIndexUnavailable(str(e)) from e
    finally:
        store.close()
    index = {r.position: r for r in found}
    out: list[Row] = []
    for position, event in events_at(log, index):
        if query.operator and not is_manual(event):
            continue
        r = index[position]
        # Every column as the index has it; only the one-line summary comes from the log.
        out.append(
            {
                "position": position,
                "recorded_at": _iso(r.recorded_at),
                "occurred_at": _iso(r.occurred_at),
                "aggregate_type": r.aggregate_type,
                "aggregate_id": r.aggregate_id,
                "event": r.event_type,
                "intent_id": r.intent_id,
                "symbol": r.symbol,
                "source": r.source,
                "summary": summary(event),
            }
        )
    return out


def _iso(us: int) -> str | None:
    return iso(_EPOCH + timedelta(microseconds=us))
