"""What routing feeds the ledger after a (re)connect: its own orders' missed
fills, corrections and commissions, then the statuses the table allows."""

from __future__ import annotations

from adapters.routing import missed_fill_reports, missed_status_reports
from tests.unit.reconcile.reconcile_helpers import (
    LATER,
    A,
    Book,
    D,
    execution,
    order,
    snapshot,
)


def test_missed_fills_of_our_orders_only() -> None:
    book = Book()
    ours = book.intent("10")
    book.report(ours, "ACKNOWLEDGED")
    snap = snapshot(
        executions=[
            execution("m.01.01", "manual", perm=9),
            execution("e.01.01", ours, qty="4", cum="4"),
        ]
    )
    (report,) = missed_fill_reports(book.ledger, snap, A, broker="ibkr", as_of=LATER)
    assert (report.intent_id, report.exec_id, report.status.value) == (
        ours,
        "e.01.01",
        "PARTIAL_FILL",
    )


def test_corrections_and_late_commissions_are_fed() -> None:
    book = Book()
    first, second = book.intent("10"), book.intent("5")
    book.filled(first, "a.01.01", commission="0")
    book.filled(second, "b.01.01", qty="5")
    snap = snapshot(
        executions=[
            execution("a.01.01", first, commission="1.2"),
            execution("b.01.01", second, qty="5"),
            execution("b.01.02", second, qty="5", price="99"),
        ]
    )
    reports = missed_fill_reports(book.ledger, snap, A, broker="ibkr", as_of=LATER)
    assert sorted((r.exec_id, str(r.commission)) for r in reports) == [
        ("a.01.01", "1.2"),
        ("b.01.02", "1"),
    ]
    for r in reports:
        book.ledger.handle(r, "broker:ibkr@1", LATER)
    assert missed_fill_reports(book.ledger, snap, A, broker="ibkr", as_of=LATER) == []


def test_statuses_only_where_the_table_allows() -> None:
    book = Book()
    new, acked, cancelling = book.intent(), book.intent(), book.intent()
    book.report(acked, "ACKNOWLEDGED")
    book.report(cancelling, "ACKNOWLEDGED")
    book.ledger.request_cancel(cancelling, "operator", "cli", LATER)
    snap = snapshot(
        open_orders=[
            order(new, "ACKNOWLEDGED", perm=1),
            order(acked, "SUBMITTED", perm=2),
            order(cancelling, "ACKNOWLEDGED", perm=3),
        ],
        completed=[order("manual", "CANCELED", perm=4)],
    )
    (report,) = missed_status_reports(book.ledger, snap, A, as_of=LATER)
    assert (report.intent_id, report.status.value, report.order_id) == (new, "ACKNOWLEDGED", "1")
    snap = snapshot(completed=[order(acked, "CANCELED", perm=2)])
    (cancel,) = missed_status_reports(book.ledger, snap, A, as_of=LATER)
    assert (cancel.intent_id, cancel.status.value) == (acked, "CANCELED")
    assert cancel.filled_quantity == D(0)
