"""The rebuilder: the state at any position, forwards, backwards and from a snapshot, is
the state of a ledger fed the same events from the start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.ledger import Ledger, LedgerConfig
from domain.snapshot import snapshot_ledger
from replay.state import EventLog, Rebuilder, open_event_log, state_document
from tests.unit.replay.replay_history import demo_store


class OneSnapshot:
    """Takes a snapshot when the scan passes `at`; counts what it was asked."""

    def __init__(self, at: int) -> None:
        self.at, self.data, self.asked = at, b"", 0

    def nearest(self, position: int) -> tuple[int, bytes] | None:
        self.asked += 1
        return (self.at, self.data) if self.data and self.at <= position else None

    def offer(self, position: int, ledger: Ledger) -> None:
        if position == self.at:
            self.data = snapshot_ledger(ledger)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventLog]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'ledger.db'}"
    demo_store(url)
    with open_event_log(url) as opened:
        yield opened


def _expected(log: EventLog, position: int) -> dict[str, object]:
    ledger = Ledger(LedgerConfig())
    for _, event in log.events(1, position):
        ledger.apply(event)
    return state_document(ledger)


def test_forwards_and_backwards(log: EventLog) -> None:
    rebuilder = Rebuilder(log, LedgerConfig())
    for position in (5, 20, 28, 9, 0, 14):
        assert state_document(rebuilder.state_at(position)) == _expected(log, position)


def test_from_a_snapshot_then_the_tail(log: EventLog) -> None:
    snapshots = OneSnapshot(12)
    first = Rebuilder(log, LedgerConfig(), snapshots)
    first.state_at(28)  # passes 12: the snapshot is taken
    assert snapshots.data
    second = Rebuilder(log, LedgerConfig(), snapshots)
    assert state_document(second.state_at(20)) == _expected(log, 20)
    assert second.applied == 8  # 13..20 only: the rest came from the snapshot
    assert state_document(second.state_at(11)) == _expected(log, 11)  # before it: afresh


def test_rows_come_in_pages_and_report_progress(
    log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("replay.state.PAGE", 5)
    seen: list[int] = []
    log.on_page = seen.append
    try:
        assert [r[0] for r in log.rows(3, 17)] == list(range(3, 18))
    finally:
        log.on_page = None
    assert seen == [7, 12, 17]
