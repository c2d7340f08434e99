"""The read models' database wiring: SQLAlchemy engines per store URL, the log reader,
and how to wait for new events (LISTEN/NOTIFY on PostgreSQL, polling on SQLite)."""

from __future__ import annotations

import threading

from adapters.projections.engine import ProjectionStore, open_projection_store
from adapters.projections.waiter import ListenWaiter, PollWaiter, Waiter


def make_waiter(store: ProjectionStore, stop: threading.Event) -> Waiter:
    conninfo = store.extra.get("conninfo")
    if isinstance(conninfo, str):
        return ListenWaiter(conninfo, stop)
    return PollWaiter(stop)


__all__ = ["ProjectionStore", "Waiter", "make_waiter", "open_projection_store"]
