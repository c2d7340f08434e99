"""One store suite, run on SQLite and on the real PostgreSQL (`store_url`): ingest, reopen,
resume from source positions, optimistic concurrency between two writers, topic selection,
recorded-time lookup."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.files import file_source, read_jsonl
from adapters.store import open_ledger
from contracts import SourcedMessage
from domain import events as ev
from domain.application import LedgerApplication, ParsedMessage
from domain.clock import FixedClock, SteppingClock
from domain.codec import micros, topic_of
from domain.ledger import Ledger, LedgerConfig
from domain.ports import ConcurrentWriteError
from tests.conftest import make_app
from tests.support.messages import feed_lines, intent, line, state_of, uid

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "session.jsonl"
RECORDED = datetime(2025, 11, 17, 21, 0, tzinfo=UTC)


@contextmanager
def opened(url: str, clock: object | None = None) -> Iterator[LedgerApplication]:
    app = make_app(url) if clock is None else open_ledger(url, clock=clock, config=LedgerConfig())  # type: ignore[arg-type]
    try:
        yield app
    finally:
        app.close()


def reference(path: Path, now: datetime) -> list[ev.LedgerEvent]:
    """The events of the same file decided by a bare Ledger, as the application does."""
    lg = Ledger(LedgerConfig())
    return feed_lines(lg, path.read_bytes().splitlines(), source=file_source(path), now=now).events


def test_an_empty_store(store_url: str) -> None:
    with opened(store_url) as app:
        assert app.position == 0
        assert app.store.max_notification_id() in (None, 0)
        assert app.store.source_positions() == {}
        assert list(app.read_events()) == []
        assert state_of(app.ledger) == state_of(Ledger(LedgerConfig()))


def test_ingest_then_reopen_gives_the_same_state(store_url: str) -> None:
    with opened(store_url, FixedClock(RECORDED)) as app:
        summary = app.ingest(read_jsonl(DEMO), batch_size=7)
        assert summary.as_dict() == {
            "read": 23,
            "applied": 20,
            "duplicates": 1,
            "anomalies": 1,
            "held": 0,
            "quarantined": 1,
            "events": 28,
        }
        state, position = state_of(app.ledger), app.position
        log = list(app.read_events())
    positions = [p for p, _ in log]
    assert len(positions) == 28 and positions == sorted(set(positions))
    # What is stored is exactly what the ledger decided:
    assert [e for _, e in log] == reference(DEMO, RECORDED)

    with opened(store_url) as again:
        assert again.position == position == log[-1][0]
        assert state_of(again.ledger) == state
        assert again.store.source_positions() == {file_source(DEMO): 23}
        assert list(again.read_events()) == log


def test_a_rerun_resumes_after_the_last_committed_line(store_url: str, tmp_path: Path) -> None:
    lines = DEMO.read_bytes().splitlines()
    growing = tmp_path / "growing.jsonl"
    growing.write_bytes(b"\n".join(lines[:10]) + b"\n")
    with opened(store_url, FixedClock(RECORDED)) as app:
        first = app.ingest(read_jsonl(growing), batch_size=4)
        assert (first.read, first.duplicates) == (10, 1)
    growing.write_bytes(b"\n".join(lines) + b"\n")  # the file grew
    with opened(store_url, FixedClock(RECORDED)) as app:
        second = app.ingest(read_jsonl(growing), batch_size=4)
        assert (second.read, second.duplicates) == (23, 10)
        assert second.applied + second.anomalies + second.quarantined == 13
        assert app.store.source_positions() == {file_source(growing): 23}
        assert [e for _, e in app.read_events()] == reference(growing, RECORDED)
        third = app.ingest(read_jsonl(growing))
        assert (third.duplicates, third.events) == (23, 0)


class InterleavingClock:
    """The application reads its clock once per decision. The first reading lets another
    writer commit, so this writer decides at a stale position: the race, made exact."""

    def __init__(self, before_first_reading: Callable[[], object]) -> None:
        self.readings = 0
        self._before = before_first_reading

    def now(self) -> datetime:
        self.readings += 1
        if self.readings == 1:
            self._before()
        return RECORDED + timedelta(seconds=self.readings)


def _intent_message(n: int, source: str) -> SourcedMessage:
    return SourcedMessage(source, 1, line(intent(n)))


def test_a_writer_deciding_at_a_stale_position_rebuilds_and_retries(store_url: str) -> None:
    with opened(store_url) as a:
        clock = InterleavingClock(lambda: a.process([_intent_message(1, "kafka:a:0")]))
        with opened(store_url, clock) as b:
            summary = b.process([_intent_message(2, "kafka:b:0")])
            assert clock.readings == 2  # decided twice: the first commit was refused
            assert (summary.applied, summary.duplicates) == (1, 0)
    with opened(store_url) as c:
        assert set(c.ledger.orders) == {uid(1), uid(2)}
        log = [e for _, e in c.read_events()]
        assert [type(e).__name__ for e in log].count("AccountOpened") == 1
        recorded = [e.originator_id for e in log if isinstance(e, ev.OrderIntentRecorded)]
        assert sorted(recorded) == [uid(1), uid(2)]
        assert c.store.source_positions() == {"kafka:a:0": 1, "kafka:b:0": 1}


def test_the_same_input_from_two_racing_writers_is_applied_once(store_url: str) -> None:
    same = _intent_message(7, "kafka:order_intents:0")
    with opened(store_url) as a:
        clock = InterleavingClock(lambda: a.process([same]))
        with opened(store_url, clock) as b:
            summary = b.process([same])
            assert clock.readings == 2
            assert (summary.applied, summary.duplicates, summary.events) == (0, 1, 0)
    with opened(store_url) as c:
        log = [e for _, e in c.read_events()]
        assert [type(e).__name__ for e in log] == ["AccountOpened", "OrderIntentRecorded"]


def test_the_recorder_refuses_an_append_at_a_stale_position(store_url: str) -> None:
    with opened(store_url) as app:
        app.process([_intent_message(1, "kafka:a:0")])
        head = app.position
        stale = app.ledger_mapper.to_stored_event(next(e for _, e in app.read_events()))
        with pytest.raises(ConcurrentWriteError):
            app.store.append([stale], sources={"kafka:x:0": 5}, expected_position=head - 1)
        assert app.store.max_notification_id() == head
        assert app.store.source_positions() == {"kafka:a:0": 1}


def test_parsed_input_is_tracked_like_raw_input(store_url: str) -> None:
    with opened(store_url) as app:
        msg = ParsedMessage("broker:sim", 3, intent(1))
        assert app.process([msg]).applied == 1
        assert app.process([msg]).duplicates == 1
        assert app.store.source_positions() == {"broker:sim": 3}


def test_select_notifications_by_topic(store_url: str) -> None:
    with opened(store_url) as app:
        app.ingest(read_jsonl(DEMO))
        log = list(app.read_events())
        for cls in (ev.OrderIntentRecorded, ev.MessageQuarantined, ev.PositionFillCorrected):
            rows = app.store.select_notifications(1, 1000, topics=[topic_of(cls)])
            assert [n.id for n in rows] == [p for p, e in log if type(e) is cls]
            assert rows and {n.topic for n in rows} == {topic_of(cls)}
        both = app.store.select_notifications(
            1, 1000, topics=[topic_of(ev.OrderFilled), topic_of(ev.OrderRejected)]
        )
        assert [n.id for n in both] == [
            p for p, e in log if isinstance(e, ev.OrderFilled | ev.OrderRejected)
        ]


def test_position_at_a_recorded_time(store_url: str) -> None:
    clock = SteppingClock(RECORDED, timedelta(seconds=10))
    with opened(store_url, clock) as app:
        lines = list(read_jsonl(DEMO))
        app.process(lines[:3])  # recorded at RECORDED
        first = app.position
        app.process(lines[3:6])  # recorded at RECORDED + 10 s
        store: Any = app.store  # position_at is the stores' extra, not in the port
        assert store.position_at(micros(RECORDED)) == first
        assert store.position_at(micros(RECORDED + timedelta(seconds=9))) == first
        assert store.position_at(micros(RECORDED + timedelta(seconds=10))) == app.position
        assert store.position_at(micros(RECORDED - timedelta(seconds=1))) == 0
