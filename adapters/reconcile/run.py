"""One reconciliation run: the I/O around the pure comparison.

1. The run id is a pure function of the run's time (the ledger's clock) and
   the broker: `<broker>-<UTC time to the microsecond>`.
2. Connect, take the broker's snapshot (executions since `since`, by default
   00:00 UTC of the run's day), disconnect. Unreachable: the run is recorded
   with result "unreachable" and BrokerUnreachable propagates (exit 4).
3. Compare the ledger with it; with `apply`, book the breaks' bookings and
   compare again. Bookings and the run's `ReconciliationRecorded` commit in
   ONE transaction, so a run is never half booked or booked unrecorded.

Results: "agreed" (no break), "applied" (breaks found and all booked away),
"breaks" (breaks remain), "unreachable". A run that compared (any result but
"unreachable") is a successful reconciliation for monitoring: its
`recorded_at` is what `ledger_reconcile_last_success_timestamp_seconds`
exports, and its `counts["remaining"]` (every kind, zeros included) what
`ledger_reconcile_breaks{kind}` exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import orjson

from adapters.broker.port import BrokerPort, BrokerSnapshot, BrokerUnreachable
from adapters.reconcile.book import BookingResult, book
from adapters.reconcile.breaks import Break, count_by_kind
from adapters.reconcile.compare import Comparison, comparison
from adapters.reconcile.positions import DEFAULT_TOLERANCE, AvgCostTolerance
from adapters.reconcile.view import ledger_view
from domain import events as ev
from domain.application import LedgerApplication
from domain.codec import micros, topic_of
from domain.ledger import Ledger

FILL_EVENTS: tuple[type[ev.LedgerEvent], ...] = (
    ev.OrderPartiallyFilled,
    ev.OrderFilled,
    ev.OrderFillCorrected,
)
# Fill events are looked up from where the log was this long before the
# window: a fill is recorded after it happens, give or take clock skew.
LOOKBACK = timedelta(days=1)
PAGE = 10_000


def run_id_for(broker: str, at: datetime) -> str:
    return f"{broker}-{at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"


def default_window_start(at: datetime) -> datetime:
    """00:00 UTC of the run's day: the broker's default window is 'since midnight'."""
    return datetime.combine(at.astimezone(UTC).date(), time(0), tzinfo=UTC)


@dataclass
class ReconcileReport:
    run_id: str
    broker: str
    account: str
    as_of: datetime
    window_start: datetime
    applied: bool
    found: Comparison
    remaining: Comparison
    booking: BookingResult = field(default_factory=BookingResult)
    warnings: list[str] = field(default_factory=list)

    @property
    def breaks(self) -> list[Break]:
        return self.found.breaks

    @property
    def result(self) -> str:
        if not self.found.breaks:
            return "agreed"
        return "applied" if self.applied and not self.remaining.breaks else "breaks"

    def counts(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "window_start": self.window_start.isoformat(),
            "compared": self.found.compared,
            "breaks": count_by_kind(self.found.breaks),
            "remaining": count_by_kind(self.remaining.breaks),
            "booked": self.booking.booked,
            "outcomes": dict(self.booking.outcomes),
        }

    def rows(self) -> list[dict[str, Any]]:
        """The breaks found, each marked resolved when --apply booked it away."""
        left = {(b.kind, b.item, b.key) for b in self.remaining.breaks}
        return [
            {**b.as_row(), "resolved": (b.kind, b.item, b.key) not in left}
            for b in self.found.breaks
        ]


async def reconcile(
    app: LedgerApplication,
    broker: BrokerPort,
    *,
    broker_name: str,
    since: datetime | None = None,
    apply: bool = False,
    account: str | None = None,
    tolerance: AvgCostTolerance = DEFAULT_TOLERANCE,
) -> ReconcileReport:
    as_of = app.clock.now()
    run_id = run_id_for(broker_name, as_of)
    window_start = since.astimezone(UTC) if since is not None else default_window_start(as_of)
    try:
        await broker.connect()
        snapshot = await broker.snapshot(executions_since=window_start)
    except BrokerUnreachable as e:
        record_unreachable(app, run_id, broker_name, str(e))
        raise
    finally:
        await broker.disconnect()
    acct = account or _account_of(broker, snapshot, app.ledger)
    app.catch_up()
    fill_times = read_fill_times(app, window_start)
    reports: list[ReconcileReport] = []

    def decide(ledger: Ledger, now: datetime) -> None:
        reports.clear()  # the command retries after a concurrent write: decide afresh
        view = ledger_view(ledger, acct, window_start, fill_times)
        found = comparison(view, snapshot, as_of=as_of, broker=broker_name, tolerance=tolerance)
        report = ReconcileReport(
            run_id, broker_name, acct, as_of, window_start, apply, found, found
        )
        if view.other_accounts:
            report.warnings.append(
                f"ledger accounts not reconciled against {acct}: {', '.join(view.other_accounts)}"
            )
        bookings = [b for brk in found.breaks for b in brk.bookings]
        if apply and bookings:
            report.booking = book(bookings, ledger, now, broker=broker_name, run_id=run_id)
            after = ledger_view(
                ledger, acct, window_start, {**fill_times, **report.booking.fill_times}
            )
            report.remaining = comparison(
                after, snapshot, as_of=as_of, broker=broker_name, tolerance=tolerance
            )
        ledger.record_reconciliation(
            run_id,
            broker_name,
            report.result,
            _json(report.counts()),
            _json(report.rows()),
            apply,
            now,
        )
        reports.append(report)

    app.command(decide)
    return reports[-1]


def record_unreachable(app: LedgerApplication, run_id: str, broker: str, error: str) -> None:
    counts = _json({"error": error})
    app.command(
        lambda ledger, now: ledger.record_reconciliation(
            run_id, broker, "unreachable", counts, "[]", False, now
        )
    )


def read_fill_times(app: LedgerApplication, window_start: datetime) -> dict[str, datetime]:
    """execId -> execution time (the fill event's occurred_at), for the fills
    recorded since shortly before the window (older ones are out of it)."""
    start = 1
    position_at = getattr(app.store, "position_at", None)
    if callable(position_at):  # both ledger stores index recorded_at
        start = int(position_at(micros(window_start - LOOKBACK))) + 1
    topics = [topic_of(cls) for cls in FILL_EVENTS]
    decode = app.ledger_mapper.to_domain_event
    times: dict[str, datetime] = {}
    while True:
        page = app.store.select_notifications(start, PAGE, topics=topics)
        for n in page:
            event = decode(n)
            if isinstance(event, ev.OrderFillEvent | ev.OrderFillCorrected):
                times[event.exec_id] = event.occurred_at
        if len(page) < PAGE:
            return times
        start = page[-1].id + 1


def _account_of(broker: BrokerPort, snapshot: BrokerSnapshot, ledger: Ledger) -> str:
    """The broker's account: the one the adapter resolved, else the gateway's
    only account, else the ledger's configured one."""
    resolved = getattr(broker, "account", None)
    if isinstance(resolved, str) and resolved:
        return resolved
    if len(snapshot.managed_accounts) == 1:
        return snapshot.managed_accounts[0]
    return ledger.config.account


def _json(doc: Any) -> str:
    return orjson.dumps(doc, default=str).decode()
