"""Overlapped ingest (PostgreSQL): batch N commits on a writer thread while N+1 is decided.

The log must be exactly what one-batch-at-a-time ingest writes, and a concurrent writer
that gets in while a batch is in flight must cost a redo, never a lost or doubled message.
"""

from __future__ import annotations

from collections.abc import Iterator

from adapters.store import open_ledger
from bench.workload import messages
from contracts import SourcedMessage
from domain.application import LedgerApplication
from domain.clock import SteppingClock
from domain.ledger import LedgerConfig
from tests.conftest import T0
from tests.support.messages import state_of
from tests.support.services import postgres_schema, postgres_store_url

SOURCE = "file:/overlap.jsonl"


def bar(minute: int) -> bytes:
    return (
        b'{"event_type":"bar_event","symbol":"ZZZ","timestamp":"2025-11-17T09:%02d:00Z",'
        b'"open":1,"high":1,"low":1,"close":1,"volume":1}' % minute
    )


def workload(n: int) -> list[SourcedMessage]:
    return [SourcedMessage(SOURCE, i, m) for i, m in enumerate(messages(n), start=1)]


def app_at(url: str) -> LedgerApplication:
    return open_ledger(url, clock=SteppingClock(T0), config=LedgerConfig())


def log_of(app: LedgerApplication) -> list[tuple[str, bytes]]:
    return [(n.topic, n.state) for n in app.store.select_notifications(1, 1_000_000)]


def test_overlapped_ingest_writes_what_sequential_ingest_writes(tmp_path: object) -> None:
    msgs = workload(1_000)
    with postgres_schema() as schema:
        pg = app_at(postgres_store_url(schema))
        assert pg.store.commits_on_server
        summary = pg.ingest(iter(msgs), batch_size=64)
        sqlite = app_at(f"sqlite:///{tmp_path}/seq.db")
        assert not sqlite.store.commits_on_server
        expected = sqlite.ingest(iter(msgs), batch_size=64)
        assert summary.as_dict() == expected.as_dict()
        assert log_of(pg) == log_of(sqlite)
        assert pg.store.source_positions() == {SOURCE: 1_000}
        assert state_of(pg.ledger) == state_of(sqlite.ledger)
        assert state_of(app_at(postgres_store_url(schema)).ledger) == state_of(pg.ledger)


def test_a_writer_that_gets_in_during_a_commit_costs_a_redo_not_a_message() -> None:
    msgs = workload(600)
    with postgres_schema() as schema:
        url = postgres_store_url(schema)
        app, other = app_at(url), app_at(url)
        rebuilds = 0
        rebuild = app.rebuild

        def counting_rebuild() -> None:
            nonlocal rebuilds
            rebuilds += 1
            rebuild()

        app.rebuild = counting_rebuild  # type: ignore[method-assign]

        def interleaved() -> Iterator[SourcedMessage]:
            for m in msgs:
                if m.position in (101, 301):  # batch 1 (or 3) is in flight or just landed
                    other.catch_up()
                    other.process(
                        [SourcedMessage("file:/other.jsonl", m.position, bar(m.position % 60))]
                    )
                yield m

        summary = app.ingest(interleaved(), batch_size=100)
        # The first write always lands between a batch's decision and its commit (the second
        # may find no batch in flight, when a redo has just committed the one before it).
        assert rebuilds >= 1
        assert summary.read == 600
        assert summary.applied + summary.duplicates == 600
        assert summary.duplicates == 0
        fresh = app_at(url)
        assert fresh.store.source_positions() == {SOURCE: 600, "file:/other.jsonl": 301}
        assert state_of(fresh.ledger) == state_of(app.ledger)
        # every intent exactly once
        intents = [t for t, _ in log_of(fresh) if t.endswith(":OrderIntentRecorded")]
        assert len(intents) == 150
