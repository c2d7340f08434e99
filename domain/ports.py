"""What the ledger application needs from its store, beyond eventsourcing's recorder.

The adapters implement it on SQLite and PostgreSQL; the domain only names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from eventsourcing.persistence import Notification, StoredEvent

from domain.errors import LedgerError


class ConcurrentWriteError(LedgerError):
    """Another writer appended since this process last read the log; catch up and retry."""


@runtime_checkable
class LedgerRecorder(Protocol):
    # True when an append mostly waits for a database server working in its own process
    # (PostgreSQL): deciding the next batch while it commits then uses the second core.
    # False for an embedded store, whose work runs on the caller's thread.
    commits_on_server: bool

    def append(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        sources: Mapping[str, int],
        expected_position: int,
    ) -> int:
        """Insert events and source positions in one transaction; return the new last position.

        Raises ConcurrentWriteError when the log's last position is not `expected_position`
        inside the writing transaction (optimistic concurrency for the whole ledger).
        """
        ...

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...

    def source_positions(self) -> dict[str, int]: ...

    def describe(self) -> dict[str, Any]: ...

    def db_identity(self) -> str:
        """Who the store connection writes as: `sqlite`, or `<login> as <role>`."""
        ...
