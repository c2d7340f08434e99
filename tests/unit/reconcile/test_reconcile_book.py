"""`--apply` on a pure Ledger: bookings go through the ledger's own decisions,
are idempotent, and leave nothing to compare afterwards."""

from __future__ import annotations

from uuid import UUID

from adapters.broker.port import BrokerSnapshot
from adapters.reconcile import compare
from adapters.reconcile.book import book as book_breaks
from adapters.reconcile.breaks import BookFill, Break
from domain import events as ev
from tests.unit.reconcile.reconcile_helpers import (
    LATER,
    A,
    Book,
    D,
    execution,
    order,
    position,
    snapshot,
)

RUN = "ibkr-20251117T140500.000000Z"


def apply(
    book: Book, snap: BrokerSnapshot
) -> tuple[list[Break], list[ev.LedgerEvent], dict[str, int]]:
    breaks = compare(book.view(), snap, as_of=LATER, broker="ibkr")
    result = book_breaks(
        [b for brk in breaks for b in brk.bookings], book.ledger, LATER, broker="ibkr", run_id=RUN
    )
    return breaks, book.drain(), dict(result.outcomes)


def types(events: list[ev.LedgerEvent]) -> list[str]:
    return [type(e).__name__ for e in events if not isinstance(e, ev.AccountOpened)]


def test_missed_fill_is_booked_through_the_normal_path_once() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "ACKNOWLEDGED")
    snap = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent)],
        completed=[order(intent, "FILLED", filled="10")],
    )
    _, events, outcomes = apply(book, snap)
    assert types(events) == ["OrderFilled", "PositionFillApplied"]
    assert all(e.source == f"broker:ibkr:reconcile:{RUN}@1" for e in events)
    assert outcomes == {"applied": 1}
    assert compare(book.view(), snap, as_of=LATER) == []
    _, again, outcomes = apply(book, snap)
    assert (again, outcomes) == ([], {})


def test_status_is_settled_by_report_when_the_table_allows() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "ACKNOWLEDGED")
    snap = snapshot(
        [position("4", "100")],
        [execution("e.01.01", intent, qty="4")],
        completed=[order(intent, "CANCELED", filled="4")],
    )
    _, events, _ = apply(book, snap)
    assert types(events) == ["OrderPartiallyFilled", "PositionFillApplied", "OrderCanceled"]
    assert book.ledger.orders[intent].status.value == "CANCELED"
    assert compare(book.view(), snap, as_of=LATER) == []


def test_status_the_table_refuses_is_corrected_naming_the_run() -> None:
    book = Book()
    intent = book.intent("10")
    book.filled(intent, "e.01.01", qty="4")
    snap = snapshot(
        [position("4", "100")],
        [execution("e.01.01", intent, qty="4")],
        completed=[order(intent, "REJECTED", filled="4")],
    )
    _, events, _ = apply(book, snap)
    (corrected,) = events
    assert isinstance(corrected, ev.OrderStatusCorrected)
    assert (corrected.previous_status, corrected.status, corrected.run_id) == (
        "PARTIAL_FILL",
        "REJECTED",
        RUN,
    )


def test_rejected_order_with_broker_fills_is_reopened_then_filled() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "REJECTED")
    snap = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent)],
        completed=[order(intent, "FILLED", filled="10")],
    )
    _, events, _ = apply(book, snap)
    assert types(events) == ["OrderStatusCorrected", "OrderFilled", "PositionFillApplied"]
    assert book.ledger.positions[(A, "AAPL")].quantity == 10
    assert compare(book.view(), snap, as_of=LATER) == []


def test_external_order_is_booked_with_its_fills_and_final_status() -> None:
    book = Book()
    execs = [execution("m.01.01", "", perm=77, qty="3")]
    snap = snapshot(
        [position("3", "100")],
        execs,
        completed=[order("", "CANCELED", perm=77, qty="10", filled="3")],
    )
    _, events, _ = apply(book, snap)
    assert types(events) == [
        "OrderIntentRecorded",
        "OrderAcknowledged",
        "OrderPartiallyFilled",
        "PositionFillApplied",
        "OrderCanceled",
    ]
    (recorded,) = [e for e in events if isinstance(e, ev.OrderIntentRecorded)]
    assert recorded.origin == "broker"
    assert compare(book.view(), snap, as_of=LATER, broker="ibkr") == []
    _, again, _ = apply(book, snap)
    assert again == []


def test_correction_and_commission_are_booked_as_their_exec_ids() -> None:
    book = Book()
    intent = book.intent("10")
    book.filled(intent, "e.01.01", commission="0")
    snap = snapshot(
        [position("10", "100.2")],
        [
            execution("e.01.01", intent, commission="0"),
            execution("e.01.02", intent, price="100.2", commission="1.1"),
        ],
        completed=[order(intent, "FILLED", filled="10")],
    )
    _, events, _ = apply(book, snap)
    assert types(events) == ["OrderFillCorrected", "PositionFillCorrected"]
    fills = book.ledger.orders[intent].fills
    assert list(fills) == ["e.01.02"] and fills["e.01.02"].commission == D("1.1")
    assert compare(book.view(), snap, as_of=LATER) == []


def test_partial_fills_are_booked_in_broker_time_order() -> None:
    book = Book()
    intent = book.intent("10")
    later, earlier = (
        execution("b.01.01", intent, qty="6", cum="10", price="101", at=LATER),
        execution("a.01.01", intent, qty="4", cum="4", price="99"),
    )
    snap = snapshot(
        [position("10", "100.2")],
        [later, earlier],
        completed=[order(intent, "FILLED", filled="10")],
    )
    _, events, _ = apply(book, snap)
    fills = [e for e in events if isinstance(e, ev.OrderFillEvent)]
    assert [(type(e).__name__, e.exec_id) for e in fills] == [
        ("OrderPartiallyFilled", "a.01.01"),
        ("OrderFilled", "b.01.01"),
    ]
    assert isinstance(intent, UUID)


def test_fill_refused_while_rejected_is_booked_after_the_reopen() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "REJECTED")
    snap = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent)],
        completed=[order(intent, "FILLED", filled="10")],
    )
    breaks = compare(book.view(), snap, as_of=LATER, broker="ibkr")
    (live,) = [b.report for brk in breaks for b in brk.bookings if isinstance(b, BookFill)]
    book.ledger.handle(live, "broker:ibkr@1", LATER)  # plain ingest: an anomaly
    assert types(book.drain()) == ["OrderMessageRefused"]
    apply(book, snap)
    assert book.ledger.orders[intent].status.value == "FILLED"
