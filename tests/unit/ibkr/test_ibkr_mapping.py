"""Pure mapping: ib_async objects → port dataclasses and contract reports."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ib_async import (
    CommissionReport,
    Contract,
    Execution,
    Fill,
    Order,
    OrderStatus,
    Position,
    Trade,
    TradeLogEntry,
)
from ib_async.util import UNSET_DOUBLE

from adapters.ibkr.corrections import correction_key, group_corrections
from adapters.ibkr.mapping import (
    UnmappableValue,
    broker_order_id,
    fill_report,
    ledger_order_status,
    order_update,
    parse_intent_id,
    report_status,
    side_of,
    to_decimal,
    to_decimal_or_none,
    to_ib_float,
    to_utc,
    trade_report_status,
)
from adapters.ibkr.snapshot import (
    build_snapshot,
    commissions_by_exec_id,
    executions_from_fills,
    order_from_trade,
    position_from_ib,
)
from contracts.messages import ReportStatus

INTENT = UUID("6f1c2d3e-0000-4000-8000-00000000abcd")
T0 = datetime(2024, 1, 2, 15, 30, 5, tzinfo=UTC)
AAPL = Contract(conId=265598, symbol="AAPL", secType="STK", exchange="SMART", currency="USD")


# --- numbers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.1, "0.1"), (150.27, "150.27"), (100.0, "100"), (-25.0, "-25"), (1e-07, "1E-7"),
     (0.30000000000000004, "0.30000000000000004"), (7, "7"), (-0.0, "0")],
)  # fmt: skip
def test_to_decimal_uses_the_shortest_repr(value: float, text: str) -> None:
    assert str(to_decimal(value)) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, UNSET_DOUBLE])
def test_to_decimal_refuses_values_without_a_decimal_meaning(value: float) -> None:
    with pytest.raises(UnmappableValue):
        to_decimal(value)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != UNSET_DOUBLE))
def test_to_decimal_round_trips_every_finite_float(value: float) -> None:
    assert float(to_decimal(value)) == value


def test_to_decimal_or_none_maps_unset_to_none() -> None:
    assert to_decimal_or_none(UNSET_DOUBLE) is None
    assert to_decimal_or_none(None) is None
    assert to_decimal_or_none(math.nan) is None
    assert to_decimal_or_none(Decimal("1.5")) == Decimal("1.5")
    assert to_decimal_or_none(2850.5) == Decimal("2850.5")


def test_to_ib_float_round_trips_through_text() -> None:
    assert str(to_ib_float(Decimal("2850.50"))) == "2850.5"
    assert to_decimal(to_ib_float(Decimal("0.1"))) == Decimal("0.1")


def test_to_utc_converts_zones_and_reads_naive_as_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert to_utc(datetime(2024, 1, 2, 10, 30, 5, tzinfo=eastern)) == T0
    assert to_utc(datetime(2024, 1, 2, 15, 30, 5)).tzinfo is UTC


# --- identifiers and statuses ---------------------------------------------------


def test_identifiers() -> None:
    assert parse_intent_id(f" {INTENT} ") == INTENT
    assert parse_intent_id("manual order") is None
    assert parse_intent_id("") is None
    assert broker_order_id(880000007, 7) == "880000007"
    assert broker_order_id(0, 7) == "oid:7"
    assert [side_of(a) for a in ("BUY", "BOT", "SELL", "SLD")] == ["BUY", "BUY", "SELL", "SELL"]
    with pytest.raises(UnmappableValue):
        side_of("HOLD")


@pytest.mark.parametrize(
    ("ib_status", "ours"),
    [("PendingSubmit", ReportStatus.SUBMITTED), ("ApiPending", ReportStatus.SUBMITTED),
     ("PreSubmitted", ReportStatus.ACKNOWLEDGED), ("Submitted", ReportStatus.ACKNOWLEDGED),
     ("Filled", ReportStatus.FILLED), ("Cancelled", ReportStatus.CANCELED),
     ("ApiCancelled", ReportStatus.CANCELED), ("Inactive", ReportStatus.REJECTED),
     ("PendingCancel", None), ("ValidationError", None), ("Bogus", None)],
)  # fmt: skip
def test_report_status_table(ib_status: str, ours: ReportStatus | None) -> None:
    assert report_status(ib_status) == ours


def trade(status: str, *log: tuple[str, int, str], **order: Any) -> Trade:
    fields: dict[str, Any] = dict(orderId=7, permId=880000007, orderRef=str(INTENT),
                                  action="BUY", totalQuantity=100.0, orderType="LMT",
                                  lmtPrice=150.25, account="DU1234567")  # fmt: skip
    fields.update(order)
    entries = [TradeLogEntry(T0, s, msg, code) for s, code, msg in log]
    return Trade(AAPL, Order(**fields), OrderStatus(orderId=7, status=status), [], entries)


def test_error_201_makes_a_rejection_with_its_reason() -> None:
    t = trade("Cancelled", ("PendingSubmit", 0, ""), ("Cancelled", 201, "Order rejected"))
    assert trade_report_status(t) == (ReportStatus.REJECTED, "201: Order rejected")
    t.orderStatus.status = "Inactive"  # TWS's own status that follows
    assert trade_report_status(t) == (ReportStatus.REJECTED, "201: Order rejected")


def test_rejection_reason_drops_ib_asyncs_log_prefix() -> None:
    t = trade("Cancelled", ("Cancelled", 201, "Error 201, reqId 4: Order rejected - reason:X"))
    assert trade_report_status(t) == (ReportStatus.REJECTED, "201: Order rejected - reason:X")


def test_error_202_is_a_plain_cancel() -> None:
    t = trade("Cancelled", ("PendingCancel", 0, ""), ("Cancelled", 202, "Order Canceled"))
    assert trade_report_status(t) == (ReportStatus.CANCELED, None)


def test_a_warning_before_a_cancel_is_not_a_rejection() -> None:
    t = trade("Cancelled", ("ValidationError", 2109, "outside RTH"), ("Cancelled", 0, ""))
    assert trade_report_status(t) == (ReportStatus.CANCELED, None)


def test_validation_warning_means_still_working() -> None:
    t = trade("ValidationError", ("ValidationError", 2109, "outside RTH"))
    assert trade_report_status(t) == (None, None)


def test_refused_cancel_reports_nothing() -> None:
    t = trade("Cancelled", ("Cancelled", 10148, "cannot be cancelled"))
    assert trade_report_status(t) == (None, None)


def test_inactive_without_error_uses_why_held() -> None:
    t = trade("Inactive")
    t.orderStatus.whyHeld = "locate"
    assert trade_report_status(t) == (ReportStatus.REJECTED, "locate")


def test_ledger_order_status() -> None:
    assert ledger_order_status("Submitted", Decimal(0)) == "ACKNOWLEDGED"
    assert ledger_order_status("Submitted", Decimal(40)) == "PARTIAL_FILL"
    assert ledger_order_status("PendingCancel", Decimal(0)) == "PENDING_CANCEL"
    assert ledger_order_status("ValidationError", Decimal(0)) == "ACKNOWLEDGED"
    assert ledger_order_status("Cancelled", Decimal(40)) == "CANCELED"
    assert ledger_order_status("Filled", Decimal(100)) == "FILLED"


# --- snapshot objects -------------------------------------------------------------


def fill(exec_id: str, *, shares: float = 40.0, cum: float = 40.0, time: datetime = T0,
         commission: CommissionReport | None = None) -> Fill:  # fmt: skip
    ex = Execution(execId=exec_id, time=time, acctNumber="DU1234567", side="BOT", shares=shares,
                   price=150.1, permId=880000007, orderId=7, cumQty=cum, avgPrice=150.1,
                   orderRef=str(INTENT))  # fmt: skip
    return Fill(AAPL, ex, commission or CommissionReport(), time)


def test_position_from_ib() -> None:
    pos = position_from_ib(Position("DU1234567", AAPL, -25.0, 151.37))
    assert (pos.account, pos.symbol, pos.con_id, pos.quantity, pos.avg_cost) == (
        "DU1234567", "AAPL", 265598, Decimal(-25), Decimal("151.37"),
    )  # fmt: skip
    assert (pos.sec_type, pos.exchange, pos.currency) == ("STK", "SMART", "USD")


def test_commissions_deduplicated_by_exec_id_later_wins() -> None:
    reports = [
        CommissionReport("a.01", 1.0, "USD"),
        CommissionReport("", 0.0, ""),
        CommissionReport("a.01", 1.25, "USD"),
        CommissionReport("b.01", 2.0, "USD"),
    ]
    by_id = commissions_by_exec_id(reports)
    assert sorted(by_id) == ["a.01", "b.01"]
    assert by_id["a.01"].commission == 1.25


def test_executions_deduplicated_and_commission_found_by_exec_id() -> None:
    first = fill("x.01.01", commission=CommissionReport("x.01.01", 1.0, "USD"))
    again = fill("x.01.01")  # ib_async's later Fill object for the same execId: no commission
    other = fill("y.01.01", time=T0 - timedelta(seconds=1))
    executions = executions_from_fills(
        [again, other, first], [CommissionReport("y.01.01", 0.5, "USD")]
    )
    assert [e.exec_id for e in executions] == ["y.01.01", "x.01.01"]  # broker time order
    assert [e.commission for e in executions] == [Decimal("0.5"), Decimal(1)]
    x = executions[1]
    assert (x.side, x.quantity, x.price, x.cum_qty, x.perm_id, x.order_ref) == (
        "BUY", Decimal(40), Decimal("150.1"), Decimal(40), 880000007, str(INTENT),
    )  # fmt: skip
    assert x.commission_currency == "USD"


def test_execution_without_commission_report() -> None:
    (e,) = executions_from_fills([fill("z.01.01")], [])
    assert (e.commission, e.commission_currency) == (None, None)


def test_open_order_from_trade_uses_its_order_status() -> None:
    t = trade("Submitted", auxPrice=UNSET_DOUBLE)
    t.orderStatus.filled, t.orderStatus.remaining, t.orderStatus.avgFillPrice = 40.0, 60.0, 150.1
    o = order_from_trade(t)
    assert (o.status, o.filled, o.remaining, o.avg_fill_price) == (
        "PARTIAL_FILL", Decimal(40), Decimal(60), Decimal("150.1"),
    )  # fmt: skip
    assert (o.limit_price, o.stop_price, o.broker_status) == (Decimal("150.25"), None, "Submitted")


def test_completed_order_from_trade_uses_filled_quantity() -> None:
    o = order_from_trade(trade("Filled", orderId=0, filledQuantity=100.0))
    assert (o.status, o.filled, o.remaining, o.avg_fill_price, o.order_id) == (
        "FILLED", Decimal(100), Decimal(0), None, 0,
    )  # fmt: skip


def test_build_snapshot_keeps_only_the_configured_account() -> None:
    mine, theirs = trade("Submitted"), trade("Submitted", account="DU2", orderRef="x")
    other_fill = fill("o.01.01")
    other_fill.execution.acctNumber = "DU2"
    snap = build_snapshot(
        "DU1234567",
        ["DU1234567", "DU2"],
        [Position("DU1234567", AAPL, 1.0, 2.0), Position("DU2", AAPL, 3.0, 4.0)],
        [fill("m.01.01"), other_fill],
        [],
        [mine, theirs],
        [theirs],
    )
    assert [p.account for p in snap.positions] == ["DU1234567"]
    assert [e.exec_id for e in snap.executions] == ["m.01.01"]
    assert [o.order_ref for o in snap.open_orders] == [str(INTENT)]
    assert (snap.completed_orders, snap.managed_accounts) == ((), ("DU1234567", "DU2"))


# --- corrections ------------------------------------------------------------------


def test_correction_key() -> None:
    assert correction_key("0000e0d5.6553a6b2.01.02") == ("0000e0d5.6553a6b2.01", "02")
    assert correction_key("plain") == ("plain", "")


def test_group_corrections_highest_suffix_wins() -> None:
    execs = executions_from_fills(
        [fill("a.01.01"), fill("a.01.03"), fill("a.01.02"), fill("b.01.09"), fill("b.01.0a"),
         fill("c.01.01")],
        [],
    )  # fmt: skip
    groups = group_corrections(execs)
    assert sorted(e.exec_id for e in groups.effective) == ["a.01.03", "b.01.0a", "c.01.01"]
    assert sorted(e.exec_id for e in groups.superseded) == ["a.01.01", "a.01.02", "b.01.09"]


# --- live reports -------------------------------------------------------------------


def test_order_update_of_our_order() -> None:
    update = order_update(trade("Submitted", ("Submitted", 0, "")), T0 + timedelta(hours=1))
    assert update is not None
    assert (update.intent_id, update.order_id, update.status, update.time) == (
        INTENT, "880000007", ReportStatus.ACKNOWLEDGED, T0,
    )  # fmt: skip
    assert (update.symbol, update.account) == ("AAPL", "DU1234567")


def test_order_update_ignores_external_orders_and_silent_statuses() -> None:
    assert order_update(trade("Submitted", orderRef="manual"), T0) is None
    assert order_update(trade("PendingCancel"), T0) is None


def test_fill_report_partial_then_filled() -> None:
    t = trade("Submitted")
    partial = fill_report(t, fill("x.01.01", shares=40.0, cum=40.0))
    full = fill_report(t, fill("x.02.01", shares=60.0, cum=100.0))
    assert partial is not None and full is not None
    assert (partial.status, partial.filled_quantity, partial.last_quantity) == (
        ReportStatus.PARTIAL_FILL, Decimal(40), Decimal(40),
    )  # fmt: skip
    assert (full.status, full.filled_quantity, full.exec_id) == (
        ReportStatus.FILLED, Decimal(100), "x.02.01",
    )  # fmt: skip
    assert (full.intent_id, full.order_id, full.last_price, full.timestamp) == (
        INTENT, "880000007", Decimal("150.1"), T0,
    )  # fmt: skip
    assert full.commission is None
