"""Audit queries: which events, in log order, with both times and the source of the input.

An order's lifecycle is every event that names its intent: the intent, submissions,
acknowledgements, every fill and correction, cancels, denials, anomalies (refused
messages), reports held for it, and the position effects of its fills.

Rows come from the log (`rows_from_log`, authoritative) or from the `audit_index`
read model (`replay.report.audit_index`); both give the same shape, so `--from-log`
can compare them row for row. Aggregate types are the read models' names (`Order`,
`Position`, `KillSwitch`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain import events as ev
from projections.log import KINDS
from projections.views import Row, iso
from replay.report.events import facts, summary
from replay.state import EventLog

RISK_POLICY = "risk-policy"
COLUMNS = [
    "position",
    "recorded_at",
    "occurred_at",
    "aggregate_type",
    "aggregate_id",
    "event",
    "intent_id",
    "symbol",
    "source",
    "summary",
]
_INTENT_TOPIC = next(k.topic for k in KINDS.values() if k.name == "OrderIntentRecorded")
_OPERATOR_TYPES = frozenset({"KillSwitchTripped", "KillSwitchReset"})


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Every given criterion must hold (AND); positions are exclusive/inclusive bounds."""

    order: UUID | None = None
    symbol: str | None = None
    types: frozenset[str] = frozenset()
    after: int = 0  # events after this position (the state at --since)
    upto: int | None = None  # up to and including this position
    operator: bool = False  # manual kill-switch actions only
    quarantined: bool = False

    def type_names(self) -> frozenset[str] | None:
        """The event types that can match, or None for any."""
        names = set(self.types) if self.types else None
        for flag, wanted in (
            (self.operator, _OPERATOR_TYPES),
            (self.quarantined, frozenset({"MessageQuarantined"})),
        ):
            if flag:
                names = set(wanted) if names is None else names & wanted
        return None if names is None else frozenset(names)

    def keeps_row(self, row: Row, event: ev.LedgerEvent) -> bool:
        names = self.type_names()
        if names is not None and row["event"] not in names:
            return False
        if self.order is not None and row["intent_id"] != str(self.order):
            return False
        if self.symbol is not None and row["symbol"] != self.symbol:
            return False
        return not self.operator or is_manual(event)


def is_manual(event: ev.LedgerEvent) -> bool:
    return isinstance(event, ev.KillSwitchEvent) and event.by != RISK_POLICY


def audit_row(position: int, event: ev.LedgerEvent, symbols: dict[UUID, str]) -> Row:
    f = facts(event, lambda i: (symbols[i], "") if i in symbols else None)
    recorded, occurred = iso(event.recorded_at), iso(event.occurred_at)
    return {
        "position": position,
        "recorded_at": recorded,
        "occurred_at": occurred,
        "aggregate_type": KINDS[_topic(event)].aggregate,
        "aggregate_id": str(event.originator_id),
        "event": type(event).__name__,
        "intent_id": str(f.intent_id) if f.intent_id is not None else None,
        "symbol": f.symbol,
        "source": event.source,
        "summary": summary(event),
    }


def _topic(event: ev.LedgerEvent) -> str:
    return f"{type(event).__module__}:{type(event).__qualname__}"


def rows_from_log(log: EventLog, query: AuditQuery) -> list[Row]:
    """Scan the log. Before the window only intents are decoded (for order symbols);
    inside it, events whose type cannot match are passed over undecoded."""
    names = query.type_names()
    topics = None if names is None else {k.topic for k in KINDS.values() if k.name in names}
    symbols: dict[UUID, str] = {}
    out: list[Row] = []
    for row in log.rows(1, query.upto):
        topic = row[3]
        inside = row[0] > query.after
        if topic == _INTENT_TOPIC:
            event = log.decode(row)
            if isinstance(event, ev.OrderIntentRecorded):
                symbols[event.originator_id] = event.symbol
        elif not inside or (topics is not None and topic not in topics):
            continue
        else:
            event = log.decode(row)
        if inside:
            r = audit_row(row[0], event, symbols)
            if query.keeps_row(r, event):
                out.append(r)
    return out


def events_at(log: EventLog, positions: Iterable[int]) -> Iterator[tuple[int, ev.LedgerEvent]]:
    """The events at the given positions (ascending), reading contiguous runs at once."""
    for start, stop in _runs(sorted(positions)):
        for row in log.rows(start, stop):
            yield row[0], log.decode(row)


def _runs(positions: list[int]) -> Iterator[tuple[int, int]]:
    if not positions:
        return
    start = prev = positions[0]
    for p in positions[1:]:
        if p != prev + 1:
            yield start, prev
            start = p
        prev = p
    yield start, prev


def compare(from_log: list[Row], from_index: list[Row]) -> list[dict[str, Any]]:
    """Differences between the log's rows and the index's, by position and field."""
    a = {r["position"]: r for r in from_log}
    b = {r["position"]: r for r in from_index}
    out: list[dict[str, Any]] = []
    for position in sorted(a.keys() | b.keys()):
        if position not in b:
            out.append(
                {"position": position, "field": "(row)", "log": a[position]["event"], "index": None}
            )
        elif position not in a:
            out.append(
                {"position": position, "field": "(row)", "log": None, "index": b[position]["event"]}
            )
        else:
            out += [
                {
                    "position": position,
                    "field": k,
                    "log": a[position][k],
                    "index": b[position].get(k),
                }
                for k in COLUMNS
                if a[position][k] != b[position].get(k)
            ]
    return out
