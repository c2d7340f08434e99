"""The ledger's state at any log position, rebuilt from the log alone.

Never from projections: a replay must be right precisely when a projection is
wrong. The log is read as raw rows (`chain_rows`: position, id, version, topic,
state, recorded time, hash) and decoded by the domain's codec; state changes only
through `Ledger.apply`, the same path the live ledger uses, so a replay cannot
drift from what the ledger decided.

Documents follow DESIGN.md §7: a state document is an object with `positions`,
`orders`, `account` and `kill_switch`, the first two and the last in the exact
shapes of `ledger positions`, `ledger orders` and `ledger killswitch status`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import psycopg
from eventsourcing.persistence import PersistenceError

from adapters.store import StoreUnavailable, open_recorder, parse_store_url
from domain import events as ev
from domain.codec import EventCodec, micros, topic_of
from domain.ledger import Ledger, LedgerConfig
from domain.order import Order
from domain.position import Position
from domain.snapshot import Snapshot, restore_ledger
from projections.views import Row, dec, killswitch_row, order_rows, position_rows

PAGE = 20_000
STORE_ERRORS = (PersistenceError, psycopg.Error, sqlite3.Error, OSError)

# position, originator id, version, topic, state, recorded_at (µs), hash
RawRow = tuple[int, Any, int, str, bytes, int, bytes]


class ReplayError(Exception):
    """A replay request the log cannot answer (exit code 2)."""


@runtime_checkable
class ReplayRecorder(Protocol):
    """What replay needs from a ledger recorder (both the SQLite and PostgreSQL ones)."""

    def chain_rows(self, start: int, limit: int, stop: int | None = None) -> list[RawRow]: ...

    def position_at(self, recorded_at: int) -> int: ...

    def max_notification_id(self) -> int | None: ...


# ============================================================================ the log


class EventLog:
    """The read side of the store for replay: raw rows, decoded events, positions."""

    def __init__(self, recorder: ReplayRecorder, codec: EventCodec | None = None) -> None:
        self.recorder = recorder
        self.codec = codec or EventCodec()
        self._uuids: dict[str | UUID, UUID] = {}
        self.on_page: Callable[[int], None] | None = None  # last position read (progress)

    def last_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[RawRow]:
        """Raw rows from `start` to `stop` inclusive, in log order, a page at a time."""
        while stop is None or start <= stop:
            page = self.recorder.chain_rows(start, PAGE, stop)
            yield from page
            if page and self.on_page is not None:
                self.on_page(page[-1][0])
            if len(page) < PAGE:
                return
            start = page[-1][0] + 1

    def decode(self, row: RawRow) -> ev.LedgerEvent:
        # Ids repeat (an order has several events, a position many): parse each once.
        oid = row[1]  # hex text (SQLite) or a UUID (PostgreSQL)
        uuid = self._uuids.get(oid)
        if uuid is None:
            uuid = self._uuids[oid] = oid if isinstance(oid, UUID) else UUID(oid)
        return self.codec.decode(row[3], uuid, row[2], row[4])

    def events(
        self, start: int = 1, stop: int | None = None
    ) -> Iterator[tuple[int, ev.LedgerEvent]]:
        decode = self.decode
        for row in self.rows(start, stop):
            yield row[0], decode(row)

    def position_recorded_by(self, at: datetime) -> int:
        """The last position recorded at or before `at` (the recorded-time index)."""
        return self.recorder.position_at(micros(at))


@contextmanager
def open_event_log(url: str) -> Iterator[EventLog]:
    """The log at a store URL, without building the live ledger (opening the application
    would replay the whole log into memory first, doubling the cost of every replay) and
    without creating anything: a replay never changes the store."""
    location = parse_store_url(url)
    if location.sqlite_path is not None and not location.sqlite_path.is_file():
        raise StoreUnavailable(f"no store at {location.masked}")
    with open_recorder(url, create=False) as recorder:
        yield EventLog(recorder)


def config_from_log(log: EventLog, config: LedgerConfig) -> LedgerConfig:
    """The configuration with the account as the log opened it.

    The starting equity, account and currency the ledger was opened with are facts of
    the log (`AccountOpened`); a replay run with different settings in its environment
    must still rebuild the same state. Limits and instruments stay as configured."""
    topic = topic_of(ev.AccountOpened)
    for row in log.rows(1, PAGE):
        if row[3] == topic:
            opened = log.decode(row)
            if not isinstance(opened, ev.AccountOpened):  # pragma: no cover - by topic
                break
            return replace(
                config,
                account=opened.account,
                currency=opened.currency,
                starting_equity=opened.starting_equity,
            )
    return config


# ============================================================================ rebuilding


class SnapshotSource(Protocol):
    """Where whole-ledger snapshots come from (`replay.snapshots.StoreSnapshots`: the
    store's `ledger_snapshots`). `nearest` returns (position, snapshot bytes or a
    `Snapshot` reading them) of the latest usable snapshot at or before `position`;
    `offer` sees the ledger after each event a rebuild applies, to take one when it
    wants."""

    def nearest(self, position: int) -> tuple[int, bytes | Snapshot] | None: ...

    def offer(self, position: int, ledger: Ledger) -> None: ...


class Rebuilder:
    """A `Ledger` moved along the log; `state_at(p)` is the state after event `p`.

    Moving forward applies only the events in between; moving back restores the
    nearest snapshot at or before `p` (or starts afresh) and applies the rest.
    """

    def __init__(
        self, log: EventLog, config: LedgerConfig, snapshots: SnapshotSource | None = None
    ) -> None:
        self.log, self.config, self.snapshots = log, config, snapshots
        self.ledger = Ledger(config)
        self.position = 0
        self.applied = 0  # events applied, for benchmarks and progress

    def state_at(self, position: int) -> Ledger:
        snap = self.snapshots.nearest(position) if self.snapshots is not None else None
        if position < self.position or (snap is not None and snap[0] > self.position):
            self.ledger, self.position = Ledger(self.config), 0
            if snap is not None:
                self.ledger, self.position = restore_ledger(snap[1], self.config), snap[0]
        self.advance(position)
        return self.ledger

    def advance(self, position: int) -> None:
        if position <= self.position:
            return
        apply, offer = self.ledger.apply, self.snapshots.offer if self.snapshots else None
        for pos, event in self.log.events(self.position + 1, position):
            apply(event)
            self.position = pos
            self.applied += 1
            if offer is not None:
                offer(pos, self.ledger)
        self.position = position


# ============================================================================ documents


@dataclass(frozen=True, slots=True)
class Filter:
    """Which orders/positions/events a replay shows; empty fields mean everything."""

    symbol: str | None = None
    order: UUID | None = None
    account: str | None = None
    types: frozenset[str] = frozenset()

    def order_key(self, ledger: Ledger) -> tuple[str, str] | None:
        order = ledger.orders.get(self.order) if self.order is not None else None
        return None if order is None else (order.account, order.symbol)

    def keeps_position(self, row: Row, order_key: tuple[str, str] | None) -> bool:
        if self.order is not None and (row["account"], row["symbol"]) != order_key:
            return False
        return self.symbol in (None, row["symbol"]) and self.account in (None, row["account"])


EVERYTHING = Filter()


def account_row(ledger: Ledger) -> Row:
    """The account: cash, equity at the latest marks, high-water mark, drawdown (a
    fraction: 0.12 = 12 %), the UTC day and that day's opening equity."""
    a = ledger.account
    equity = a.equity()
    return {
        "account": a.name,
        "currency": a.currency,
        "cash": dec(a.cash),
        "equity": dec(equity),
        "high_water_mark": dec(a.high_water_mark),
        "drawdown": dec(a.drawdown(equity)),
        "day": a.day.isoformat() if a.day is not None else None,
        "opening_equity": dec(a.opening_equity),
    }


def state_document(ledger: Ledger, flt: Filter = EVERYTHING) -> dict[str, Any]:
    doc = {
        "positions": position_rows(ledger),
        "orders": order_rows(ledger),
        "account": account_row(ledger),
        "kill_switch": killswitch_row(ledger),
    }
    return filter_document(doc, flt, ledger)


def filter_document(doc: dict[str, Any], flt: Filter, lookup: Ledger) -> dict[str, Any]:
    """The rows of `doc` the filter keeps. Orders' accounts and the position of `--order`
    are looked up in `lookup`: a window passes the ledger at its end, so that both of its
    documents show the same rows (an order placed inside the window still shows its
    position's state before it)."""
    if flt == EVERYTHING:
        return doc
    key = flt.order_key(lookup)
    orders = {str(o.intent_id): o for o in lookup.orders.values()}
    kept = []
    for row in doc["orders"]:
        order = orders[row["intent_id"]]
        if (
            flt.order in (None, order.intent_id)
            and flt.symbol in (None, order.symbol)
            and flt.account in (None, order.account)
        ):
            kept.append(row)
    positions = [r for r in doc["positions"] if flt.keeps_position(r, key)]
    return {**doc, "positions": positions, "orders": kept}


def changed_fields(before: Row | None, after: Row | None) -> dict[str, list[Any]]:
    """{field: [before, after]} for each field whose value differs (None for a row that
    does not exist on that side)."""
    b, a = before or {}, after or {}
    return {k: [b.get(k), a.get(k)] for k in dict.fromkeys([*b, *a]) if b.get(k) != a.get(k)}


def position_key(row: Row) -> str:
    return f"{row['account']}:{row['symbol']}"


# Fields that a row's key already names: not repeated as changes when a row appears.
IDENTITY: dict[str, frozenset[str]] = {
    "order": frozenset({"intent_id"}),
    "position": frozenset({"account", "symbol"}),
    "account": frozenset(),
    "kill_switch": frozenset(),
}


def diff_documents(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two state documents, keyed: positions by `account:symbol`,
    orders by intent id; rows that appeared have `null` before values."""
    out: dict[str, Any] = {}
    for name, view, key in (
        ("positions", "position", position_key),
        ("orders", "order", _intent_key),
    ):
        b = {key(r): r for r in before[name]}
        a = {key(r): r for r in after[name]}
        rows = {
            k: {
                f: v
                for f, v in changed_fields(b.get(k), a.get(k)).items()
                if f not in IDENTITY[view]
            }
            for k in dict.fromkeys([*b, *a])
        }
        out[name] = {k: v for k, v in rows.items() if v}
    out["account"] = changed_fields(before["account"], after["account"])
    out["kill_switch"] = changed_fields(before["kill_switch"], after["kill_switch"])
    return out


def _intent_key(row: Row) -> str:
    return str(row["intent_id"])


def order_row(order: Order | None) -> Row | None:
    """One row of `order_rows` (same shape), for the timeline's before/after."""
    if order is None:
        return None
    return {
        "intent_id": str(order.intent_id),
        "symbol": order.symbol,
        "side": order.side,
        "quantity": dec(order.quantity),
        "status": order.status.value,
        "filled_quantity": dec(order.filled),
        "avg_fill_price": dec(order.avg_fill_price),
    }


def position_row(p: Position | None) -> Row | None:
    """One row of `position_rows` (same shape)."""
    if p is None:
        return None
    return {
        "account": p.account,
        "symbol": p.symbol,
        "quantity": dec(p.quantity),
        "avg_price": dec(p.avg_price),
        "realized_pnl": dec(p.realized_pnl),
        "commission": dec(p.commission),
    }
