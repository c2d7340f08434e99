"""The pure comparison: a ledger view and a broker snapshot in, typed breaks out."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from adapters.reconcile import Break, BreakKind, compare
from adapters.reconcile.breaks import (
    BookExternalOrder,
    BookFill,
    ReopenForFills,
    SettleStatus,
    count_by_kind,
)
from adapters.reconcile.ids import external_intent_id
from tests.unit.reconcile.reconcile_helpers import (
    LATER,
    T0,
    WINDOW,
    A,
    Book,
    D,
    execution,
    order,
    position,
    snapshot,
)

K = BreakKind


def run(book: Book, snap: object, window: object = WINDOW) -> list[Break]:
    return compare(book.view(window), snap, as_of=LATER, broker="ibkr")  # type: ignore[arg-type]


def kinds(breaks: list[Break]) -> list[tuple[str, str]]:
    return [(b.kind.value, b.item) for b in breaks]


def filled_book() -> tuple[Book, UUID]:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "ACKNOWLEDGED")
    book.filled(intent, "e.01.01", "10", "100", "1")
    return book, intent


def test_agreement_has_no_breaks() -> None:
    book, intent = filled_book()
    snap = snapshot(
        [position("10", "100.1")],
        [execution("e.01.01", intent)],
        completed=[order(intent, "FILLED", filled="10")],
    )
    assert run(book, snap) == []


def test_missed_fill_is_missing_in_ledger_and_explains_the_status() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "ACKNOWLEDGED")
    snap = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent, commission="1.5")],
        completed=[order(intent, "FILLED", filled="10")],
    )
    breaks = run(book, snap)
    assert kinds(breaks) == [("missing_in_ledger", "position"), ("missing_in_ledger", "execution")]
    fill = breaks[1]
    (booking,) = fill.bookings
    assert isinstance(booking, BookFill)
    r = booking.report
    assert (r.intent_id, r.exec_id, r.status.value, r.order_id) == (
        intent,
        "e.01.01",
        "FILLED",
        "1001",
    )
    assert (r.last_quantity, r.last_price, r.commission) == (D(10), D(100), D("1.5"))
    assert fill.ledger["order_status"] == "ACKNOWLEDGED"
    assert fill.broker["commission"] == "1.5"


def test_partial_missed_fill_is_booked_as_partial() -> None:
    book = Book()
    intent = book.intent("10")
    snap = snapshot(
        [position("4", "100")],
        [execution("e.01.01", intent, qty="4")],
        open_orders=[order(intent, "PARTIAL_FILL", filled="4")],
    )
    breaks = run(book, snap)
    (fill,) = [b for b in breaks if b.item == "execution"]
    assert fill.bookings[0].report.status.value == "PARTIAL_FILL"  # type: ignore[union-attr]
    assert [b for b in breaks if b.item == "order"] == []


def test_correction_pending_when_the_broker_holds_a_higher_suffix() -> None:
    book, intent = filled_book()
    snap = snapshot(
        [position("10", "100.2")],
        [execution("e.01.01", intent), execution("e.01.02", intent, price="100.2")],
        completed=[order(intent, "FILLED", filled="10")],
    )
    cost, pending = run(book, snap)  # the broker's position moved with its correction
    assert (cost.kind, cost.ledger["avg_price"], cost.broker["avg_cost"]) == (
        K.AVG_COST_MISMATCH,
        "100",
        "100.2",
    )
    assert (pending.kind, pending.key) == (K.CORRECTION_PENDING, "e.01.02")
    assert (pending.ledger["exec_id"], pending.broker["supersedes"]) == ("e.01.01", "e.01.01")
    assert pending.bookings[0].report.exec_id == "e.01.02"  # type: ignore[union-attr]


def test_ledger_newer_correction_than_broker_is_a_fill_mismatch() -> None:
    book, intent = filled_book()
    book.report(
        intent,
        "FILLED",
        exec_id="e.01.02",
        qty="10",
        price="100.3",
        commission="1",
        filled="10",
        avg="100.3",
    )
    snap = snapshot(
        [position("10", "100.3")],
        [execution("e.01.01", intent)],
        completed=[order(intent, "FILLED", filled="10")],
    )
    (found,) = run(book, snap)
    assert (found.kind, found.bookings) == (K.FILL_MISMATCH, ())


def test_commission_matched_by_exec_id() -> None:
    book = Book()
    intent = book.intent("10")
    book.filled(intent, "e.01.01", commission="0")
    snap = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent, commission="1.25")],
        completed=[order(intent, "FILLED", filled="10")],
    )
    (found,) = run(book, snap)
    assert found.kind == K.COMMISSION_MISMATCH
    assert (found.ledger["commission"], found.broker["commission"]) == ("0", "1.25")
    # Not yet known at the broker: no break.
    unknown = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent, commission=None)],
        completed=[order(intent, "FILLED", filled="10")],
    )
    assert run(book, unknown) == []


def test_same_exec_id_with_other_figures_is_reported_only() -> None:
    book, intent = filled_book()
    snap = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent, price="101")],
        completed=[order(intent, "FILLED", filled="10")],
    )
    (found,) = run(book, snap)
    assert (found.kind, found.remedy) == (K.FILL_MISMATCH, "report only")


def test_ledger_fill_missing_at_broker_only_inside_the_window() -> None:
    book, intent = filled_book()
    snap = snapshot([position("10", "100")], completed=[order(intent, "FILLED", filled="10")])
    assert kinds(run(book, snap)) == [("missing_at_broker", "execution")]
    # The fill happened before the broker's window: not compared.
    assert run(book, snap, window=T0 + timedelta(seconds=1)) == []


def test_unknown_order_gets_a_deterministic_external_intent() -> None:
    book = Book()
    snap = snapshot(
        [position("-20", "400", symbol="MSFT")],
        [execution("m.01.01", "", perm=77, side="SELL", qty="20", price="400", symbol="MSFT")],
        completed=[
            order(
                "",
                "FILLED",
                perm=77,
                side="SELL",
                qty="20",
                filled="20",
                symbol="MSFT",
                order_type="LMT",
                limit="399",
            )
        ],
    )
    breaks = run(book, snap)
    assert kinds(breaks) == [("missing_in_ledger", "position"), ("unknown_order", "order")]
    unknown = breaks[1]
    external, fill = unknown.bookings
    assert isinstance(external, BookExternalOrder) and isinstance(fill, BookFill)
    assert external.intent.intent_id == external_intent_id("ibkr", 77, "")
    assert (external.intent.order_type.value, external.intent.limit_price) == ("LIMIT", D(399))
    assert external.ack.order_id == "77"
    assert unknown.key == "perm:77" and unknown.broker["executions"] == "m.01.01"


def test_fills_without_a_listed_order_become_one_external_market_order() -> None:
    book = Book()
    execs = [
        execution("x.01.01", "manual", perm=5, qty="3", cum="3"),
        execution("x.02.01", "manual", perm=5, qty="2", cum="5", at=LATER),
    ]
    breaks = run(book, snapshot([position("5", "100")], execs))
    (unknown,) = [b for b in breaks if b.kind == K.UNKNOWN_ORDER]
    external = unknown.bookings[0]
    assert isinstance(external, BookExternalOrder)
    assert (external.intent.order_type.value, external.intent.quantity) == ("MARKET", D(5))
    statuses = [b.report.status.value for b in unknown.bookings if isinstance(b, BookFill)]
    assert statuses == ["PARTIAL_FILL", "FILLED"]


def test_status_the_ledger_never_saw() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "ACKNOWLEDGED")
    (found,) = run(book, snapshot(completed=[order(intent, "CANCELED")]))
    assert (found.kind, found.ledger["status"], found.broker["status"]) == (
        K.STATUS_MISMATCH,
        "ACKNOWLEDGED",
        "CANCELED",
    )
    (settle,) = found.bookings
    assert isinstance(settle, SettleStatus) and settle.status == "CANCELED"


def test_cancel_in_flight_agrees() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "ACKNOWLEDGED")
    book.ledger.request_cancel(intent, "operator", "cli", T0)
    book.drain()
    assert run(book, snapshot(open_orders=[order(intent, "ACKNOWLEDGED")])) == []
    other = Book()
    working = other.intent("10")
    other.report(working, "ACKNOWLEDGED")
    assert run(other, snapshot(open_orders=[order(working, "PENDING_CANCEL")])) == []


def test_fills_for_a_rejected_order_reopen_it() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "REJECTED")
    snap = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent)],
        completed=[order(intent, "FILLED", filled="10")],
    )
    breaks = run(book, snap)
    assert kinds(breaks) == [
        ("missing_in_ledger", "position"),
        ("missing_in_ledger", "execution"),
        ("status_mismatch", "order"),
    ]
    (reopen,) = breaks[2].bookings  # FILLED follows from the fills: no status to settle
    assert isinstance(reopen, ReopenForFills) and reopen.previous_status == "REJECTED"


def test_fill_that_would_over_fill_is_reported_only() -> None:
    book, intent = filled_book()
    snap = snapshot(
        [position("15", "100")],
        [execution("e.01.01", intent), execution("f.01.01", intent, qty="5")],
        completed=[order(intent, "FILLED", filled="10")],
    )
    found = [b for b in run(book, snap) if b.item == "execution"]
    assert [(b.kind, b.bookings) for b in found] == [(K.MISSING_IN_LEDGER, ())]
    assert "over-fill" in found[0].detail


def test_order_quantity_and_filled_mismatch() -> None:
    book, intent = filled_book()
    snap = snapshot(
        [position("10", "100")],
        [execution("e.01.01", intent)],
        completed=[order(intent, "FILLED", qty="12", filled="10")],
    )
    (found,) = run(book, snap)
    assert (found.kind, found.item) == (K.QUANTITY_MISMATCH, "order")


def test_working_order_missing_at_broker_and_matching_by_perm_id() -> None:
    book = Book()
    intent = book.intent("10")
    book.report(intent, "ACKNOWLEDGED", order_id="4242")
    (missing,) = run(book, snapshot())
    assert (missing.kind, missing.key) == (K.MISSING_AT_BROKER, str(intent))
    # The ledger knows its permId: matched even under another orderRef.
    assert (
        run(book, snapshot(open_orders=[order("edited-in-tws", "ACKNOWLEDGED", perm=4242)])) == []
    )


def test_other_accounts_are_out_of_scope() -> None:
    book = Book()
    other = uuid4()
    snap = snapshot(
        [position("5", "1", account="DU2")], [execution("o.01.01", other, account="DU2")]
    )
    assert run(book, snap) == []


def test_count_by_kind_lists_every_kind() -> None:
    book, _ = filled_book()
    counts = count_by_kind(run(book, snapshot()))
    assert counts["missing_at_broker"] == 2 and counts["unknown_order"] == 0
    assert set(counts) == {k.value for k in BreakKind}
    assert A == "DU1"
