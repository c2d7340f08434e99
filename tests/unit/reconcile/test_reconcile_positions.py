"""Positions: quantity exactly; average cost within the documented tolerance,
with or without commission per share folded in; plus the id helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.reconcile import AvgCostTolerance, BreakKind, compare
from adapters.reconcile.ids import effective_executions, external_intent_id, suffix_rank
from adapters.reconcile.run import default_window_start, run_id_for
from adapters.reconcile.view import avg_cost_with_commission
from domain.position import PositionFill
from tests.unit.reconcile.reconcile_helpers import (
    LATER,
    Book,
    D,
    execution,
    position,
    snapshot,
)


def held(qty: str = "100", price: str = "150.2", commission: str = "1", side: str = "BUY") -> Book:
    book = Book()
    intent = book.intent(qty, side=side)
    book.filled(intent, "e.01.01", qty=qty, price=price, commission=commission)
    return book


def position_breaks(book: Book, qty: str, avg: str) -> list[str]:
    snap = snapshot([position(qty, avg)])
    found = compare(book.view(window=None), snap, as_of=LATER)
    return [b.kind.value for b in found if b.item == "position"]


@pytest.mark.parametrize(
    ("broker_avg", "agrees"),
    [
        ("150.2", True),  # the plain average
        ("150.21", True),  # commission per share folded in: 150.2 + 1/100
        ("150.2100000001", True),  # a float's noise
        ("150.2015", True),  # within 0.1 bp
        ("150.205", False),  # neither figure
        ("150.23", False),
    ],
)
def test_long_average_cost_tolerance(broker_avg: str, agrees: bool) -> None:
    assert position_breaks(held(), "100", broker_avg) == ([] if agrees else ["avg_cost_mismatch"])


def test_short_position_folds_commission_the_other_way() -> None:
    short = held(side="SELL")
    assert position_breaks(short, "-100", "150.19") == []
    assert position_breaks(short, "-100", "150.21") == ["avg_cost_mismatch"]


def test_quantity_is_exact() -> None:
    assert position_breaks(held(), "100.5", "150.2") == ["quantity_mismatch"]
    assert position_breaks(held(), "0", "0") == ["missing_at_broker"]
    assert position_breaks(Book(), "5", "10") == ["missing_in_ledger"]


def test_several_broker_contracts_under_one_symbol() -> None:
    snap = snapshot([position("100", "150.2"), position("3", "5")])
    (found,) = [b for b in compare(held().view(), snap, as_of=LATER) if b.item == "position"]
    assert found.kind == BreakKind.QUANTITY_MISMATCH
    assert found.broker["quantity"] == "100, 3"


def test_avg_cost_with_commission_follows_netting() -> None:
    fills = [PositionFill("a", D(100), D(10), D(1)), PositionFill("b", D(100), D(12), D(1))]
    assert avg_cost_with_commission(fills, D(1)) == D("11.01")
    reduce = [*fills, PositionFill("c", D(-50), D(20), D(1))]
    assert avg_cost_with_commission(reduce, D(1)) == D("11.01")  # a reduction keeps it
    flip = [PositionFill("a", D(10), D(10), D(1)), PositionFill("b", D(-30), D(9), D(3))]
    assert avg_cost_with_commission(flip, D(1)) == D("8.9")  # the flip restarts, net of fees


def test_tolerance_is_configurable() -> None:
    loose = AvgCostTolerance(absolute=D("0.01"), relative=D(0))
    assert loose.accepts(D("150.209"), D("150.2"))
    assert not AvgCostTolerance().accepts(D("150.209"), D("150.2"))


def test_corrections_are_grouped_by_base_highest_suffix_wins() -> None:
    execs = [
        execution("x.01.01", "r"),
        execution("x.01.0a", "r"),
        execution("x.01.09", "r"),
        execution("y.01.01", "r"),
    ]
    effective, superseded = effective_executions(execs)
    assert sorted(e.exec_id for e in effective) == ["x.01.0a", "y.01.01"]
    assert superseded == {"x.01": ["x.01.01", "x.01.09"]}
    assert suffix_rank("a.10") > suffix_rank("a.9")


def test_external_intent_ids_are_pure() -> None:
    assert external_intent_id("ibkr", 5, "") == external_intent_id("ibkr", 5, "manual")
    assert external_intent_id("ibkr", 5, "") != external_intent_id("ibkr", 6, "")
    ref = "6f1c2d3e-0000-4000-8000-00000000abcd"
    assert str(external_intent_id("ibkr", 5, ref)) == ref


def test_run_id_and_default_window() -> None:
    at = datetime(2025, 11, 17, 23, 59, 59, 5, tzinfo=UTC)
    assert run_id_for("ibkr", at) == "ibkr-20251117T235959.000005Z"
    assert default_window_start(at) == datetime(2025, 11, 17, tzinfo=UTC)
    assert isinstance(Decimal(1), Decimal)
