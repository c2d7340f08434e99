"""Waiting for new events between projection passes: LISTEN on PostgreSQL, a poll on SQLite.

The ledger's PostgreSQL recorder NOTIFYs channel `ledger_events` in every append
transaction, so a waiter wakes as soon as one commits (the channel is database-wide:
stores in other schemas wake it too, which only costs an empty pass). SQLite has no
notification: the waiter sleeps the poll interval, and wakes early only to stop.
"""

from __future__ import annotations

import threading
from typing import Protocol

import psycopg
from psycopg import sql

CHANNEL = "ledger_events"


class Waiter(Protocol):
    def wait(self, timeout: float) -> bool:
        """After `timeout` seconds False; True as soon as new events may be there."""
        ...

    def close(self) -> None: ...


class PollWaiter:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def wait(self, timeout: float) -> bool:
        self._stop.wait(timeout)
        return False

    def close(self) -> None:
        pass


class ListenWaiter:
    """LISTEN on its own autocommit connection; falls back to polling if it is lost."""

    def __init__(self, conninfo: str, stop: threading.Event) -> None:
        self._conninfo = conninfo
        self._stop = stop
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        return conn

    def listen(self) -> None:
        """Start listening now (otherwise on the first wait): appends after this wake it."""
        if self._conn is None:
            self._conn = self._connect()

    def wait(self, timeout: float) -> bool:
        if self._stop.is_set():
            return False
        try:
            self.listen()
            if self._conn is not None:
                for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                    return True
        except psycopg.Error:
            # The next pass reads the log anyway; reconnect on the following wait.
            self.close()
            self._stop.wait(timeout)
        return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
