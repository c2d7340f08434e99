"""A replay window: the state at T, every event from T to U with what it changed, the
state at U and the difference — computed in one pass over the log.

Positions are the unit: the state "at p" is the state after event p (`@0` is the
empty ledger), and the timeline holds the events after T up to and including U.
Times become positions first: `--by recorded` (the default) through the recorded-time
index; `--by occurred` as the longest log prefix whose events all occurred by then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import events as ev
from domain.ledger import Ledger, LedgerConfig
from projections.views import Row, iso, killswitch_row
from replay.report.events import Facts, facts, summary
from replay.snapshots import expand_rows, snapshot_document
from replay.state import (
    EVERYTHING,
    IDENTITY,
    EventLog,
    Filter,
    Rebuilder,
    ReplayError,
    SnapshotSource,
    account_row,
    changed_fields,
    diff_documents,
    filter_document,
    order_row,
    position_row,
    state_document,
)
from replay.timespec import LogPosition, Resolved, describe

BY = ("recorded", "occurred")


@dataclass(frozen=True, slots=True)
class Bound:
    spec: str  # as asked: "@12", "2025-11-17T14:30:00Z"
    position: int


def resolve_positions(log: EventLog, specs: Sequence[Resolved], by: str) -> list[Bound]:
    """Each spec as a log position; one scan of the log serves every occurred-time spec."""
    last = log.last_position()
    out: dict[int, int] = {}
    pending: list[tuple[int, datetime]] = []
    for i, spec in enumerate(specs):
        if isinstance(spec, LogPosition):
            if spec.position > last:
                raise ReplayError(
                    f"position @{spec.position} is beyond the end of the log (@{last})"
                )
            out[i] = spec.position
        elif by == "recorded":
            out[i] = log.position_recorded_by(spec.at)
        else:
            pending.append((i, spec.at))
    if pending:
        found = _occurred_prefixes(log, pending)
        out.update(found)
    return [Bound(describe(s), out[i]) for i, s in enumerate(specs)]


def _occurred_prefixes(log: EventLog, pending: list[tuple[int, datetime]]) -> dict[int, int]:
    open_ = dict(pending)
    found: dict[int, int] = {}
    previous = 0
    for position, event in log.events():
        for i, at in list(open_.items()):
            if event.occurred_at > at:
                found[i] = previous
                del open_[i]
        if not open_:
            return found
        previous = position
    found.update({i: previous for i in open_})
    return found


def check_order(since: Bound, until: Bound) -> None:
    if since.position > until.position:
        raise ReplayError(
            f"--since ({since.spec}, @{since.position}) is after --until "
            f"({until.spec}, @{until.position})"
        )


# ============================================================================ the timeline


def _order_info(ledger: Ledger) -> Callable[[UUID], tuple[str, str] | None]:
    def info(intent_id: UUID) -> tuple[str, str] | None:
        order = ledger.orders.get(intent_id)
        return None if order is None else (order.symbol, order.account)

    return info


def _views(event: ev.LedgerEvent, ledger: Ledger) -> dict[str, Row | None]:
    """The rows an event can change, as the listing commands show them."""
    if isinstance(event, ev.OrderEvent):
        return {"order": order_row(ledger.orders.get(event.originator_id))}
    if isinstance(event, ev.PositionEvent):
        pos = ledger.positions.get((event.account, event.symbol))
        return {"position": position_row(pos), "account": account_row(ledger)}
    if isinstance(event, ev.MarketEvent | ev.AccountOpened | ev.AccountDayRolled):
        return {"account": account_row(ledger)}
    if isinstance(event, ev.KillSwitchEvent):
        return {"kill_switch": killswitch_row(ledger)}
    return {}


def keeps(flt: Filter, event: ev.LedgerEvent, f: Facts) -> bool:
    if flt.types and type(event).__name__ not in flt.types:
        return False
    if flt.order is not None and f.intent_id != flt.order:
        return False
    if flt.symbol is not None and f.symbol != flt.symbol:
        return False
    return flt.account is None or f.account == flt.account


def timeline_row(
    position: int, event: ev.LedgerEvent, f: Facts, changes: dict[str, list[Any]]
) -> Row:
    return {
        "position": position,
        "recorded_at": iso(event.recorded_at),
        "occurred_at": iso(event.occurred_at),
        "aggregate": f.label,
        "event": type(event).__name__,
        "source": event.source,
        "summary": summary(event),
        "changes": changes,
    }


def apply_and_describe(
    ledger: Ledger, position: int, event: ev.LedgerEvent, flt: Filter
) -> Row | None:
    """Apply one event; its timeline row when the filter keeps it."""
    f = facts(event, _order_info(ledger))
    if not keeps(flt, event, f):
        ledger.apply(event)
        return None
    before = _views(event, ledger)
    ledger.apply(event)
    after = _views(event, ledger)
    changes = {
        f"{view}.{k}": v
        for view in after
        for k, v in changed_fields(before[view], after[view]).items()
        if k not in IDENTITY[view]
    }
    return timeline_row(position, event, f, changes)


# ============================================================================ the window


def bound_doc(bound: Bound, ledger: Ledger) -> dict[str, Any]:
    return {
        "spec": bound.spec,
        "position": bound.position,
        "recorded_at": iso(ledger.last_recorded_at) if bound.position else None,
    }


def state_at(
    log: EventLog,
    config: LedgerConfig,
    position: int,
    flt: Filter = EVERYTHING,
    snapshots: SnapshotSource | None = None,
    *,
    prerendered: bool = False,
) -> dict[str, Any]:
    """The state document after event `position` (`replay --as-of`). From a snapshot
    when one serves; with `prerendered`, orders' rows may stay as the snapshot rendered
    them (`PrerenderedRows`, for `replay.render` only: read from the store as they are
    written, so write the document while the log is still open)."""
    snap = snapshots.nearest(position) if snapshots is not None else None
    if snap is not None:
        doc = snapshot_document(log, config, snap, position, flt)
        if doc is not None:
            return doc if prerendered else expand_rows(doc)
    return state_document(Rebuilder(log, config, snapshots).state_at(position), flt)


def build_window(
    log: EventLog,
    config: LedgerConfig,
    since: Bound,
    until: Bound,
    flt: Filter = EVERYTHING,
    by: str = "recorded",
    snapshots: SnapshotSource | None = None,
) -> dict[str, Any]:
    check_order(since, until)
    ledger = Rebuilder(log, config, snapshots).state_at(since.position)
    since_doc, unfiltered_since = bound_doc(since, ledger), state_document(ledger)
    timeline = []
    for position, event in log.events(since.position + 1, until.position):
        row = apply_and_describe(ledger, position, event, flt)
        if row is not None:
            timeline.append(row)
    state_since = filter_document(unfiltered_since, flt, ledger)
    state_until = state_document(ledger, flt)
    return {
        "by": by,
        "since": since_doc,
        "until": bound_doc(until, ledger),
        "state_at_since": state_since,
        "timeline": timeline,
        "state_at_until": state_until,
        "diff": diff_documents(state_since, state_until),
    }
