"""The Order aggregate through the Ledger: lifecycles, races, fills, corrections, anomalies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import events as ev
from domain.ledger import Ledger, LedgerConfig, Outcome
from domain.order import Proposal, split_exec_id
from domain.order_table import TERMINAL, TRANSITIONS, OrderStatus, OrderTransition
from tests.support.messages import (
    NOW,
    at,
    event_kinds,
    feed,
    fill,
    intent,
    report,
    uid,
)

S = OrderStatus


def ledger() -> Ledger:
    return Ledger(LedgerConfig())


def refusal(events: list[ev.LedgerEvent]) -> ev.OrderMessageRefused:
    """The one anomaly record a refused message leaves."""
    assert len(events) == 1
    assert isinstance(events[0], ev.OrderMessageRefused)
    return events[0]


def test_the_demo_lifecycle_submitted_acknowledged_partial_filled() -> None:
    lg = ledger()
    fed = feed(
        lg,
        [
            intent(1, quantity=100, order_type="LIMIT", limit_price="228.60"),
            report(1, "SUBMITTED"),
            report(1, "ACKNOWLEDGED"),
            fill(1, "0000e0d5.6553a6b2.01.01", 40, "228.55", commission="0.20"),
            fill(
                1,
                "0000e0d5.6553a6b2.02.01",
                60,
                "228.60",
                cumulative=100,
                avg="228.58",
                status="FILLED",
                commission="0.30",
            ),
        ],
    )
    assert fed.outcomes == [Outcome.APPLIED] * 5
    assert event_kinds(fed.events) == [
        "AccountOpened",
        "OrderIntentRecorded",
        "OrderSubmitted",
        "OrderAcknowledged",
        "OrderPartiallyFilled",
        "PositionFillApplied",
        "OrderFilled",
        "PositionFillApplied",
    ]
    order = lg.orders[uid(1)]
    assert order.status == S.FILLED
    assert order.filled == Decimal(100)
    assert order.avg_fill_price == Decimal("228.58")
    assert order.commission == Decimal("0.50")
    assert order.broker_order_id == "1001"


@pytest.mark.parametrize(
    "status,expected",
    [
        ("ACKNOWLEDGED", S.ACKNOWLEDGED),
        ("CANCELED", S.CANCELED),
        ("REJECTED", S.REJECTED),
    ],
)
def test_reports_may_skip_submitted(status: str, expected: OrderStatus) -> None:
    lg = ledger()
    fed = feed(lg, [intent(1), report(1, status)])
    assert fed.outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    assert lg.orders[uid(1)].status == expected


def test_a_fill_may_skip_submitted_and_acknowledged() -> None:
    lg = ledger()
    fed = feed(lg, [intent(1, quantity=10), fill(1, "x.01", 10, 5, status="FILLED")])
    assert fed.outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    assert lg.orders[uid(1)].status == S.FILLED


def test_late_fill_after_canceled_is_accepted_whatever_its_timestamp() -> None:
    lg = ledger()
    fed = feed(
        lg,
        [
            intent(1, quantity=30, timestamp=at(0)),
            report(1, "CANCELED", timestamp=at(60)),
            # Stamped *before* the cancel: still accepted, the venue filled it.
            fill(1, "e.01", 30, "414.00", status="FILLED", timestamp=at(30)),
        ],
    )
    assert fed.outcomes == [Outcome.APPLIED] * 3
    filled = [e for e in fed.events if isinstance(e, ev.OrderFilled)]
    assert len(filled) == 1
    assert filled[0].note == "late fill after cancel (a real-world race)"
    assert lg.orders[uid(1)].status == S.FILLED
    assert lg.positions[("SIM", "AAPL")].quantity == Decimal(30)


def test_late_partial_fill_after_canceled_keeps_canceled_and_moves_the_position() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=30), report(1, "CANCELED"), fill(1, "e.01", 10, 7)])
    assert lg.orders[uid(1)].status == S.CANCELED
    assert lg.orders[uid(1)].filled == Decimal(10)
    assert lg.positions[("SIM", "AAPL")].quantity == Decimal(10)


def test_fill_after_rejected_is_an_anomaly_and_moves_nothing() -> None:
    lg = ledger()
    feed(lg, [intent(1, direction="SELL", quantity=40), report(1, "REJECTED")])
    fed = feed(lg, [fill(1, "e.04.01", 40, "229.00", status="FILLED")])
    assert fed.outcomes == [Outcome.ANOMALY]
    assert event_kinds(fed.events) == ["OrderMessageRefused"]
    refused = fed.events[0]
    assert isinstance(refused, ev.OrderMessageRefused)
    assert refused.kind == "transition_not_allowed"
    assert refused.status == "REJECTED"
    assert '"exec_id":"e.04.01"' in refused.message
    assert lg.orders[uid(1)].filled == 0
    assert ("SIM", "AAPL") not in lg.positions


def test_over_fill_is_refused_and_moves_nothing() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=10), fill(1, "a.01", 6, 100)])
    fed = feed(lg, [fill(1, "b.01", 5, 100, cumulative=11)])
    assert fed.outcomes == [Outcome.ANOMALY]
    assert isinstance(fed.events[0], ev.OrderMessageRefused)
    assert fed.events[0].kind == "over_fill"
    assert lg.orders[uid(1)].filled == Decimal(6)
    assert lg.positions[("SIM", "AAPL")].quantity == Decimal(6)


def test_over_fill_by_a_correction_is_refused() -> None:
    lg = ledger()
    feed(
        lg,
        [intent(1, quantity=10), fill(1, "a.01", 6, 100), fill(1, "b.01", 4, 100, status="FILLED")],
    )
    fed = feed(lg, [fill(1, "a.02", 7, 100, status="FILLED")])
    assert fed.outcomes == [Outcome.ANOMALY]
    assert refusal(fed.events).kind == "over_fill"
    assert lg.positions[("SIM", "AAPL")].quantity == Decimal(10)


def test_duplicate_exec_id_is_a_no_op() -> None:
    lg = ledger()
    msg = fill(1, "a.01", 6, 100)
    feed(lg, [intent(1, quantity=10), msg])
    fed = feed(lg, [msg, fill(1, "a.01", 6, 100, timestamp=at(99))])
    assert fed.outcomes == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert fed.events == []


def test_correction_replaces_its_fill_even_after_filled() -> None:
    lg = ledger()
    feed(
        lg,
        [
            intent(1, quantity=100),
            fill(1, "x.01.01", 40, "228.55", commission="0.20"),
            fill(1, "x.02.01", 60, "228.5833333333", status="FILLED", commission="0.30"),
        ],
    )
    fed = feed(lg, [fill(1, "x.02.02", 60, "228.5666666667", status="FILLED", commission="0.30")])
    assert fed.outcomes == [Outcome.APPLIED]
    assert event_kinds(fed.events) == ["OrderFillCorrected", "PositionFillCorrected"]
    order = lg.orders[uid(1)]
    assert order.status == S.FILLED
    assert set(order.fills) == {"x.01.01", "x.02.02"}
    assert order.filled == Decimal(100)
    pos = lg.positions[("SIM", "AAPL")]
    assert pos.quantity == Decimal(100)
    # 40 x 228.55 + 60 x 228.5666666667 = 22856.000000002
    assert pos.avg_price == Decimal("228.56000000002")
    assert pos.commission == Decimal("0.50")


def test_an_older_version_of_a_corrected_fill_changes_nothing() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=100), fill(1, "x.01.01", 40, 10), fill(1, "x.01.02", 40, 11)])
    fed = feed(lg, [fill(1, "x.01.01", 40, 10, timestamp=at(50))])
    assert fed.outcomes == [Outcome.DUPLICATE]
    assert lg.positions[("SIM", "AAPL")].avg_price == Decimal(11)


def test_numeric_suffixes_compare_as_numbers() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=100), fill(1, "x.9", 40, 10), fill(1, "x.10", 40, 12)])
    assert set(lg.orders[uid(1)].fills) == {"x.10"}
    assert lg.positions[("SIM", "AAPL")].avg_price == Decimal(12)


def test_split_exec_id() -> None:
    assert split_exec_id("0000e0d5.6553a6b2.01.01") == ("0000e0d5.6553a6b2.01", "01")
    assert split_exec_id("plain") == ("plain", "")


def test_a_commission_report_for_a_known_fill_corrects_its_commission_only() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=10), fill(1, "a.01", 10, 100, status="FILLED")])
    fed = feed(lg, [fill(1, "a.01", 10, 100, status="FILLED", commission="1.25")])
    assert fed.outcomes == [Outcome.APPLIED]
    pos = lg.positions[("SIM", "AAPL")]
    assert (pos.quantity, pos.commission, pos.realized_pnl) == (
        Decimal(10),
        Decimal("1.25"),
        Decimal(0),
    )
    assert lg.orders[uid(1)].commission == Decimal("1.25")


@pytest.mark.parametrize(
    "first_commission",
    [
        None,
        "0",
        "0.30",
    ],
)
def test_the_same_execution_again_after_its_commission_report_is_a_duplicate(
    first_commission: str | None,
) -> None:
    lg = ledger()
    original = fill(1, "a.01", 10, 100, status="FILLED", commission=first_commission)
    feed(
        lg,
        [
            intent(1, quantity=10),
            original,
            fill(1, "a.01", 10, 100, status="FILLED", commission="1.25"),
        ],
    )
    fed = feed(lg, [original])
    assert fed.outcomes == [Outcome.DUPLICATE]
    assert lg.positions[("SIM", "AAPL")].commission == Decimal("1.25")


def test_implied_fill_from_cumulative_quantity_and_average() -> None:
    lg = ledger()
    fed = feed(
        lg,
        [
            intent(2, symbol="MSFT", direction="SELL", quantity=50),
            report(2, "PARTIAL_FILL", filled=20, avg="415.00", symbol="MSFT"),
            report(2, "FILLED", filled=50, avg="415.60", symbol="MSFT"),
        ],
    )
    assert fed.outcomes == [Outcome.APPLIED] * 3
    fills = [e for e in fed.events if isinstance(e, ev.PositionFillApplied)]
    # (415.60 x 50 - 415.00 x 20) / 30 = 416.00
    assert [(f.fill_quantity, f.fill_price) for f in fills] == [
        (Decimal(20), Decimal("415.00")),
        (Decimal(30), Decimal("416")),
    ]
    pos = lg.positions[("SIM", "MSFT")]
    assert pos.quantity == Decimal(-50)
    assert pos.avg_price == Decimal("415.6")


def test_implied_fill_with_a_non_positive_price_is_an_anomaly() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=50), report(1, "PARTIAL_FILL", filled=20, avg=100)])
    fed = feed(lg, [report(1, "PARTIAL_FILL", filled=30, avg=10)])
    assert fed.outcomes == [Outcome.ANOMALY]
    assert refusal(fed.events).kind == "inconsistent_report"
    assert lg.positions[("SIM", "AAPL")].quantity == Decimal(20)


def test_filled_report_for_less_than_the_quantity_is_an_anomaly() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=50)])
    fed = feed(lg, [fill(1, "a.01", 10, 100, status="FILLED")])
    assert fed.outcomes == [Outcome.ANOMALY]
    assert refusal(fed.events).kind == "inconsistent_report"
    assert ("SIM", "AAPL") not in lg.positions


def test_refused_message_delivered_again_is_a_duplicate() -> None:
    lg = ledger()
    bad = fill(1, "a.01", 10, 100, status="FILLED")
    feed(lg, [intent(1, quantity=10), report(1, "REJECTED"), bad])
    fed = feed(lg, [bad])
    assert fed.outcomes == [Outcome.DUPLICATE]
    assert fed.events == []


def test_request_cancel_then_cancel_rejected_returns_to_the_previous_state() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=10), report(1, "ACKNOWLEDGED"), fill(1, "a.01", 3, 100)])
    assert lg.request_cancel(uid(1), "operator", "cli", NOW) == Outcome.APPLIED
    assert lg.orders[uid(1)].status == S.PENDING_CANCEL
    decision = lg.orders[uid(1)].decide_status(OrderTransition.CANCEL_REJECTED, "too late")
    assert isinstance(decision, Proposal)
    assert decision.fields["status"] == S.PARTIAL_FILL


def test_partial_fill_racing_a_cancel_keeps_pending_cancel_and_remembers_partial() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=10), report(1, "ACKNOWLEDGED")])
    lg.request_cancel(uid(1), "operator", "cli", NOW)
    feed(lg, [fill(1, "a.01", 3, 100)])
    order = lg.orders[uid(1)]
    assert order.status == S.PENDING_CANCEL
    assert order.status_before_cancel == S.PARTIAL_FILL


def test_cancel_rejected_after_a_late_acknowledgement_returns_to_acknowledged() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=10)])
    lg.request_cancel(uid(1), "operator", "cli", NOW)
    feed(lg, [report(1, "ACKNOWLEDGED")])
    decision = lg.orders[uid(1)].decide_status(OrderTransition.CANCEL_REJECTED, "")
    assert isinstance(decision, Proposal)
    assert decision.fields["status"] == S.ACKNOWLEDGED


def test_correction_completing_the_quantity_fills_the_order() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=10), fill(1, "a.01", 4, 100), fill(1, "b.01", 5, 100)])
    fed = feed(lg, [fill(1, "b.02", 6, 100, cumulative=10, status="FILLED")])
    assert fed.outcomes == [Outcome.APPLIED]
    assert lg.orders[uid(1)].filled == Decimal(10)
    assert lg.orders[uid(1)].status == S.FILLED


def test_canceled_delivered_again_after_a_late_fill_is_a_no_op() -> None:
    lg = ledger()
    canceled = report(1, "CANCELED")
    feed(lg, [intent(1, quantity=10), canceled, fill(1, "a.01", 10, 100, status="FILLED")])
    fed = feed(lg, [canceled])
    assert fed.outcomes == [Outcome.DUPLICATE]
    assert fed.events == []


def test_a_stale_cumulative_after_a_downward_correction_implies_no_fill() -> None:
    lg = ledger()
    canceled = report(1, "CANCELED", filled=2, avg="99.5")
    feed(
        lg,
        [intent(1, quantity=10), fill(1, "e.01", 2, "99.5"), canceled, fill(1, "e.02", 1, "99.5")],
    )
    assert lg.positions[("SIM", "AAPL")].quantity == Decimal(1)
    fed = feed(lg, [canceled])
    assert fed.outcomes == [Outcome.DUPLICATE]
    assert lg.positions[("SIM", "AAPL")].quantity == Decimal(1)


def test_duplicate_acknowledgement_after_filled_is_a_no_op() -> None:
    lg = ledger()
    ack = report(1, "ACKNOWLEDGED")
    feed(lg, [intent(1, quantity=10), ack, fill(1, "a.01", 10, 100, status="FILLED")])
    fed = feed(lg, [ack])
    assert fed.outcomes == [Outcome.DUPLICATE]
    assert fed.events == []


def test_the_same_acknowledgement_twice_while_pending_cancel_is_recorded_once() -> None:
    lg = ledger()
    ack = report(1, "ACKNOWLEDGED")
    feed(lg, [intent(1, quantity=10)])
    lg.request_cancel(uid(1), "operator", "cli", NOW)
    first = feed(lg, [ack])
    assert first.outcomes == [Outcome.APPLIED]
    again = feed(lg, [ack])
    assert again.outcomes == [Outcome.DUPLICATE]
    assert again.events == []


def test_duplicate_exec_id_after_expired_is_a_no_op() -> None:
    lg = ledger()
    partial = fill(1, "a.01", 3, 100)
    feed(lg, [intent(1, quantity=10), partial])
    order = lg.orders[uid(1)]
    proposal = order.decide_status(OrderTransition.EXPIRE, "day order expired")
    assert isinstance(proposal, Proposal)
    lg.apply(
        proposal.cls(
            originator_id=uid(1),
            originator_version=order.version + 1,
            occurred_at=NOW,
            recorded_at=NOW,
            source="test",
            **proposal.fields,
        )
    )
    assert order.status == S.EXPIRED
    fed = feed(lg, [partial])
    assert fed.outcomes == [Outcome.DUPLICATE]
    assert fed.events == []


def test_broker_order_id_is_recorded_when_the_first_report_is_a_fill() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=5), fill(1, "a.01", 5, 10, status="FILLED")])
    assert lg.orders[uid(1)].broker_order_id == "1001"


def test_conflicting_intent_with_the_same_id_is_an_anomaly() -> None:
    lg = ledger()
    feed(lg, [intent(1, quantity=10)])
    fed = feed(lg, [intent(1, quantity=11), intent(1, quantity=10), intent(1, quantity=11)])
    assert fed.outcomes == [Outcome.ANOMALY, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert refusal(fed.events).kind == "conflicting_intent"
    assert lg.orders[uid(1)].quantity == Decimal(10)


def test_broker_order_id_may_repeat_across_intents() -> None:
    lg = ledger()
    fed = feed(
        lg,
        [
            intent(1, quantity=5),
            intent(2, quantity=5),
            report(1, "ACKNOWLEDGED"),
            report(2, "ACKNOWLEDGED"),
            fill(1, "a.01", 5, 10, status="FILLED"),
            report(2, "FILLED", filled=5, avg=11),
        ],
    )
    assert fed.outcomes == [Outcome.APPLIED] * 6
    assert lg.orders[uid(1)].broker_order_id == lg.orders[uid(2)].broker_order_id == "1001"
    assert lg.positions[("SIM", "AAPL")].quantity == Decimal(10)


def test_table_terminal_states_have_no_outgoing_rows() -> None:
    assert {S.DENIED, S.REJECTED, S.EXPIRED, S.FILLED} == TERMINAL
    assert not [k for k in TRANSITIONS if k[0] in TERMINAL]


def test_every_race_row_carries_a_reason() -> None:
    races = [
        (S.CANCELED, OrderTransition.FILL_COMPLETE),
        (S.CANCELED, OrderTransition.FILL_PARTIAL),
        (S.PENDING_CANCEL, OrderTransition.FILL_COMPLETE),
        (S.PENDING_CANCEL, OrderTransition.FILL_PARTIAL),
    ]
    for row in races:
        assert TRANSITIONS[row][1], row
