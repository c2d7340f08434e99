"""Shared by the projection tests: feeding a store, catching projections up, dumping rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import select

from adapters.projections import ProjectionStore
from contracts import ContractMessage, SourcedMessage, message_to_json
from domain import events as ev
from domain import ids
from domain.application import BatchSummary, LedgerApplication
from projections.readers import ReadModels, read
from projections.registry import ALL, tables_of
from projections.runner import ProjectionRunner, set_up
from tests.conftest import T0
from tests.support.messages import at, bar, fill, intent, report, tick

Dump = dict[str, list[tuple[Any, ...]]]


def sourced(
    messages: Iterable[ContractMessage | bytes], source: str = "file:/t.jsonl", start: int = 1
) -> list[SourcedMessage]:
    return [
        SourcedMessage(source, i, m if isinstance(m, bytes) else message_to_json(m))
        for i, m in enumerate(messages, start)
    ]


def ingest(
    app: LedgerApplication,
    messages: Sequence[ContractMessage | bytes],
    *,
    source: str = "file:/t.jsonl",
    start: int = 1,
    batch_size: int = 5000,
) -> BatchSummary:
    return app.ingest(sourced(messages, source, start), batch_size)


def catch_up(store: ProjectionStore, names: Sequence[str] = ALL, batch_size: int = 20_000) -> int:
    set_up(store.engine, names)
    return ProjectionRunner(store.engine, store.source, names, batch_size=batch_size).catch_up()


def dump(store: ProjectionStore, names: Sequence[str] = ALL) -> dict[str, Dump]:
    """Every row of every live table of each projection, by table base name, in key order."""

    def rows(m: ReadModels) -> dict[str, Dump]:
        out: dict[str, Dump] = {}
        for name in names:
            version = m.versions[name]
            tables: Dump = {}
            for t in tables_of(name, version).values():
                base = t.name.removeprefix("proj_").rsplit("_v", 1)[0]
                keys = list(t.primary_key.columns)
                tables[base] = [tuple(r) for r in m.conn.execute(select(t).order_by(*keys))]
            out[name] = tables
        return out

    return read(store.read_engine, rows)


DEMO = Path(__file__).resolve().parents[3] / "data/demo/session.jsonl"


def demo_lines() -> list[bytes]:
    return DEMO.read_bytes().splitlines()


def more_messages() -> list[ContractMessage]:
    """A held report (before its intent), fills on a second day, ticks, a new symbol."""
    return [
        report(21, "ACKNOWLEDGED", symbol="SPY", order_id="2021", timestamp=at(600)),
        intent(21, symbol="SPY", quantity=10, timestamp=at(601)),
        fill(
            21,
            "0021.01.01",
            10,
            "601.5",
            cumulative=10,
            status="FILLED",
            symbol="SPY",
            timestamp=at(602),
        ),
        tick("SPY", "603.25", at(603)),
        intent(22, symbol="AAPL", direction="SELL", quantity=50, timestamp=at(10, day=1)),
        fill(
            22,
            "0022.01.01",
            20,
            "230.10",
            cumulative=20,
            status="PARTIAL_FILL",
            symbol="AAPL",
            timestamp=at(11, day=1),
        ),
        bar("AAPL", "231.00", at(60, day=1)),
    ]


def append_unknown_order_event(app: LedgerApplication) -> int:
    """An acknowledgement for an order that was never recorded (no projection that reads
    order events can apply it), then a valid tick. Returns the stray event's position."""
    later = T0 + timedelta(days=1)
    stray = ev.OrderAcknowledged(
        originator_id=UUID(int=999),
        originator_version=2,
        occurred_at=T0,
        recorded_at=later,
        source="test",
        status="ACKNOWLEDGED",
        broker_order_id="x",
    )
    market = ids.market_id("AAPL")
    mark = ev.MarketTickRecorded(
        originator_id=market,
        originator_version=app.ledger.versions[market] + 1,
        occurred_at=at(900),
        recorded_at=later,
        source="test",
        symbol="AAPL",
        price=Decimal("230.00"),
        size=Decimal(1),
        tick_type="TRADE",
    )
    head = app.store.max_notification_id() or 0
    app.store.append(
        [app.ledger_mapper.to_stored_event(e) for e in (stray, mark)],
        sources={},
        expected_position=head,
    )
    return head + 1
