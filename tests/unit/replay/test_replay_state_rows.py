"""State documents: the row shapes of the listing commands, the account row, the diff."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from domain.ledger import Ledger, LedgerConfig
from projections.views import order_rows, position_rows
from replay.state import (
    Filter,
    account_row,
    changed_fields,
    diff_documents,
    order_row,
    position_row,
    state_document,
)
from tests.support.messages import at, bar, feed, fill, intent, report


def _ledger() -> Ledger:
    ledger = Ledger(LedgerConfig(starting_equity=Decimal(100_000)))
    feed(
        ledger,
        [
            bar("AAPL", 100, at(0)),
            intent(1, symbol="AAPL", quantity=10, timestamp=at(1)),
            fill(1, "a.01", 10, 100, status="FILLED", timestamp=at(2)),
            intent(2, symbol="MSFT", direction="SELL", quantity=5, timestamp=at(3)),
            report(2, "ACKNOWLEDGED", symbol="MSFT", order_id="2", timestamp=at(4)),
            bar("AAPL", 90, at(60)),
        ],
    )
    return ledger


def test_single_rows_have_exactly_the_listing_shapes() -> None:
    ledger = _ledger()
    assert [order_row(o) for o in ledger.orders.values()] == order_rows(ledger)
    assert [position_row(p) for _, p in sorted(ledger.positions.items())] == position_rows(ledger)
    assert order_row(None) is None
    assert position_row(None) is None


def test_account_row_is_decimal_strings_with_drawdown_as_a_fraction() -> None:
    row = account_row(_ledger())
    # 10 AAPL bought at 100, marked at 90: equity 100 below the start.
    assert row == {
        "account": "SIM",
        "currency": "USD",
        "cash": "99000",
        "equity": "99900",
        "high_water_mark": "100000",
        "drawdown": "0.001",
        "day": "2025-11-17",
        "opening_equity": "100000",
    }


def test_filters_keep_the_orders_and_positions_they_name() -> None:
    ledger = _ledger()
    doc = state_document(ledger, Filter(symbol="MSFT"))
    assert [o["symbol"] for o in doc["orders"]] == ["MSFT"]
    assert doc["positions"] == []
    by_order = state_document(ledger, Filter(order=UUID(int=1)))
    assert [o["intent_id"] for o in by_order["orders"]] == [str(UUID(int=1))]
    assert [p["symbol"] for p in by_order["positions"]] == ["AAPL"]
    assert state_document(ledger, Filter(account="OTHER"))["orders"] == []
    # The account and the kill switch are global: always there.
    assert doc["account"] == account_row(ledger)


def test_changed_fields_lists_only_what_differs() -> None:
    assert changed_fields({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": [2, 3]}
    assert changed_fields(None, {"a": 1}) == {"a": [None, 1]}
    assert changed_fields({"a": 1}, {"a": 1}) == {}


def test_diff_keys_rows_and_leaves_out_what_the_key_names() -> None:
    before = state_document(Ledger(LedgerConfig(starting_equity=Decimal(100_000))))
    after = state_document(_ledger())
    diff = diff_documents(before, after)
    assert diff["positions"]["SIM:AAPL"]["quantity"] == [None, "10"]
    assert "symbol" not in diff["positions"]["SIM:AAPL"]
    order = diff["orders"][str(UUID(int=2))]
    assert order["status"] == [None, "ACKNOWLEDGED"]
    assert "intent_id" not in order
    assert diff["account"]["equity"] == ["100000", "99900"]
    assert diff["kill_switch"] == {}
    assert diff_documents(after, after) == {
        "positions": {},
        "orders": {},
        "account": {},
        "kill_switch": {},
    }
