"""ReportTracker: ordering, deduplication and commission matching of live reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from adapters.ibkr.live import ReportTracker
from adapters.ibkr.mapping import OrderUpdate
from contracts.messages import ExecutionReport, ReportStatus

INTENT = UUID("6f1c2d3e-0000-4000-8000-00000000abcd")
T0 = datetime(2024, 1, 2, 15, 30, 5, tzinfo=UTC)


class Timers:
    """A hand-driven scheduler: timers fire only when the test says so."""

    def __init__(self) -> None:
        self.pending: list[Timer] = []

    def __call__(self, delay: float, action: Callable[[], None]) -> Timer:
        timer = Timer(delay, action, self)
        self.pending.append(timer)
        return timer

    def fire_all(self) -> None:
        for timer in list(self.pending):
            timer.action()
        self.pending.clear()


class Timer:
    def __init__(self, delay: float, action: Callable[[], None], owner: Timers) -> None:
        self.delay, self.action, self.owner = delay, action, owner

    def cancel(self) -> None:
        self.owner.pending.remove(self)


def make(wait: float = 2.0) -> tuple[ReportTracker, list[ExecutionReport], Timers]:
    out: list[ExecutionReport] = []
    timers = Timers()
    return ReportTracker(out.append, timers, wait), out, timers


def update(status: ReportStatus, reason: str | None = None) -> OrderUpdate:
    return OrderUpdate(INTENT, "880000007", "AAPL", "DU1234567", status, reason, T0)


def fill(
    exec_id: str, cum: str, status: ReportStatus, commission: str | None = None
) -> ExecutionReport:
    return ExecutionReport(
        intent_id=INTENT, order_id="880000007", symbol="AAPL", status=status,
        filled_quantity=Decimal(cum), avg_fill_price=Decimal("150.1"), timestamp=T0,
        exec_id=exec_id, last_quantity=Decimal(40), last_price=Decimal("150.1"),
        commission=Decimal(commission) if commission else None,
    )  # fmt: skip


def statuses(out: list[ExecutionReport]) -> list[str]:
    return [r.status.value for r in out]


def test_statuses_only_move_forward() -> None:
    tracker, out, _ = make()
    for s in (ReportStatus.SUBMITTED, ReportStatus.ACKNOWLEDGED, ReportStatus.SUBMITTED,
              ReportStatus.ACKNOWLEDGED, ReportStatus.CANCELED, ReportStatus.CANCELED,
              ReportStatus.REJECTED):  # fmt: skip
        tracker.on_update(update(s))
    assert statuses(out) == ["SUBMITTED", "ACKNOWLEDGED", "CANCELED"]


def test_rejection_carries_its_reason() -> None:
    tracker, out, _ = make()
    tracker.on_update(update(ReportStatus.REJECTED, "201: Order rejected"))
    tracker.on_update(update(ReportStatus.REJECTED, "Inactive"))
    assert [(r.status.value, r.reject_reason) for r in out] == [("REJECTED", "201: Order rejected")]


def test_fill_waits_for_its_commission() -> None:
    tracker, out, timers = make()
    tracker.on_fill(fill("x.01.01", "100", ReportStatus.FILLED))
    assert out == []
    tracker.on_commission("x.01.01", Decimal("1.25"), "USD")
    (report,) = out
    assert (report.commission, report.commission_currency) == (Decimal("1.25"), "USD")
    assert timers.pending == []  # the timeout was cancelled


def test_fill_goes_without_commission_after_the_wait() -> None:
    tracker, out, timers = make(wait=2.0)
    tracker.on_fill(fill("x.01.01", "100", ReportStatus.FILLED))
    assert [t.delay for t in timers.pending] == [2.0]
    timers.fire_all()
    (report,) = out
    assert report.commission is None
    tracker.on_commission("x.01.01", Decimal("1.25"), "USD")  # too late: reconcile matches it
    assert len(out) == 1


def test_zero_wait_reports_fills_at_once() -> None:
    tracker, out, timers = make(wait=0)
    tracker.on_fill(fill("x.01.01", "100", ReportStatus.FILLED))
    assert len(out) == 1 and timers.pending == []


def test_status_queues_behind_a_waiting_fill_and_never_implies_a_fill() -> None:
    tracker, out, _ = make()
    tracker.on_update(update(ReportStatus.ACKNOWLEDGED))
    tracker.on_fill(fill("x.01.01", "40", ReportStatus.PARTIAL_FILL))
    tracker.on_update(update(ReportStatus.CANCELED))
    assert statuses(out) == ["ACKNOWLEDGED"]
    tracker.on_commission("x.01.01", Decimal("1"), "USD")
    assert statuses(out) == ["ACKNOWLEDGED", "PARTIAL_FILL", "CANCELED"]
    assert out[0].filled_quantity == Decimal(0)
    assert (out[2].filled_quantity, out[2].avg_fill_price, out[2].exec_id) == (
        Decimal(40), Decimal("150.1"), None,
    )  # fmt: skip


def test_order_status_filled_is_left_to_the_execution() -> None:
    tracker, out, _ = make()
    tracker.on_update(update(ReportStatus.FILLED))
    assert out == []


def test_each_exec_id_reported_once_and_resent_commissions_ignored() -> None:
    tracker, out, _ = make()
    tracker.on_fill(fill("x.01.01", "100", ReportStatus.FILLED))
    tracker.on_commission("x.01.01", Decimal("1"), "USD")
    tracker.on_fill(fill("x.01.01", "100", ReportStatus.FILLED))
    tracker.on_commission("x.01.01", Decimal("1"), "USD")
    tracker.on_commission("unknown.01", Decimal("9"), "USD")
    assert len(out) == 1
    assert tracker.reported_exec_ids() == {"x.01.01"}


def test_late_fill_after_cancel_is_reported_but_statuses_stay_terminal() -> None:
    tracker, out, _ = make(wait=0)
    tracker.on_update(update(ReportStatus.CANCELED))
    tracker.on_fill(fill("x.01.01", "40", ReportStatus.PARTIAL_FILL))
    tracker.on_update(update(ReportStatus.ACKNOWLEDGED))
    assert statuses(out) == ["CANCELED", "PARTIAL_FILL"]


def test_a_fill_with_commission_already_known_is_not_held() -> None:
    tracker, out, timers = make()
    tracker.on_fill(fill("x.01.01", "100", ReportStatus.FILLED, commission="1"))
    assert len(out) == 1 and timers.pending == []
