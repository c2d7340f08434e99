"""Position arithmetic: netting, average price, realised PnL on reduce and flip, commissions,
multipliers, corrections in place."""

from __future__ import annotations

from decimal import Decimal, localcontext

from domain.instruments import Instrument, Instruments
from domain.ledger import Ledger, LedgerConfig
from domain.position import PositionFill, figures_from, step
from tests.support.messages import feed, fill, intent

D = Decimal
ONE = D(1)


def pf(exec_id: str, q: int | str, price: str | int, commission: str = "0") -> PositionFill:
    return PositionFill(exec_id, D(q), D(price), D(commission))


def test_opening_and_adding_average_the_price() -> None:
    figs = figures_from([pf("a", 100, "10.00"), pf("b", 50, "13.00")], ONE)
    assert (figs.quantity, figs.avg_price, figs.realized_pnl) == (D(150), D(11), D(0))


def test_reducing_realises_pnl_and_keeps_the_average() -> None:
    figs = figures_from([pf("a", 100, "10.00"), pf("b", -40, "12.50")], ONE)
    assert (figs.quantity, figs.avg_price, figs.realized_pnl) == (D(60), D(10), D(100))


def test_short_reduce_realises_with_the_short_sign() -> None:
    figs = figures_from([pf("a", -100, "10.00"), pf("b", 40, "12.50")], ONE)
    assert (figs.quantity, figs.avg_price, figs.realized_pnl) == (D(-60), D(10), D(-100))


def test_flip_realises_the_closed_part_and_opens_the_rest_at_the_fill_price() -> None:
    figs = figures_from([pf("a", 100, "10"), pf("b", -150, "12")], ONE)
    assert (figs.quantity, figs.avg_price, figs.realized_pnl) == (D(-50), D(12), D(200))


def test_closing_to_flat_resets_the_average() -> None:
    figs = figures_from([pf("a", 100, "10"), pf("b", -100, "9")], ONE)
    assert (figs.quantity, figs.avg_price, figs.realized_pnl) == (D(0), D(0), D(-100))


def test_commissions_are_kept_apart_from_realised_pnl() -> None:
    figs = figures_from([pf("a", 10, "10", "1.25"), pf("b", -10, "11", "0.75")], ONE)
    assert figs.realized_pnl == D(10)
    assert figs.commission == D(2)


def test_multiplier_scales_realised_pnl() -> None:
    figs = figures_from([pf("a", 2, "5000.25"), pf("b", -1, "5010.50")], D(50))
    assert figs.realized_pnl == D("512.50")
    assert figs.avg_price == D("5000.25")


def test_step_from_flat() -> None:
    # (quantity, open cost basis, realised)
    assert step(D(0), D(0), D(0), D(-3), D("7.5"), ONE) == (D(-3), D("22.5"), D(0))


def test_futures_multiplier_from_the_instruments_table_reaches_position_and_cash() -> None:
    instruments = Instruments({"ES": Instrument("ES", "FUT", D(50), "USD", D("0.25"))})
    lg = Ledger(LedgerConfig(instruments=instruments))
    feed(
        lg,
        [
            intent(1, symbol="ES", quantity=2),
            fill(1, "a.01", 2, "5000.25", symbol="ES", status="FILLED", commission="4.20"),
            intent(2, symbol="ES", direction="SELL", quantity=1),
            fill(2, "b.01", 1, "5010.50", symbol="ES", status="FILLED", commission="2.10"),
            intent(3, symbol="AAPL", quantity=1),
            fill(3, "c.01", 1, 100, status="FILLED"),
        ],
    )
    es = lg.positions[("SIM", "ES")]
    assert (es.multiplier, es.quantity, es.realized_pnl, es.commission) == (
        D(50),
        D(1),
        D("512.50"),
        D("6.30"),
    )
    assert lg.positions[("SIM", "AAPL")].multiplier == ONE  # not in the table
    # cash: -2 x 5000.25 x 50 - 4.20 + 1 x 5010.50 x 50 - 2.10 - 100
    assert lg.account.cash == D(1_000_000) - D("500025") - D("4.20") + D("250525") - D("2.10") - D(
        100
    )
    # equity: cash + 1 x 5010.50 x 50 (mark = last fill) + 1 x 100
    assert lg.account.equity() == lg.account.cash + D("250525") + D(100)


def test_correction_recomputes_as_if_the_corrected_fill_had_arrived_in_place() -> None:
    lg = Ledger(LedgerConfig())
    feed(
        lg,
        [
            intent(1, quantity=1000),
            fill(1, "a.01", 100, 10),
            fill(1, "b.01", 100, 20),
            intent(2, direction="SELL", quantity=1000),
            fill(2, "c.01", 150, 30),
        ],
    )
    # Correct the first fill to 50 @ 12: in place, sequence becomes +50@12, +100@20, -150@30.
    feed(lg, [fill(1, "a.02", 50, 12)])
    expected = figures_from([pf("a.02", 50, 12), pf("b.01", 100, 20), pf("c.01", -150, 30)], ONE)
    pos = lg.positions[("SIM", "AAPL")]
    assert (pos.quantity, pos.avg_price, pos.realized_pnl) == (
        expected.quantity,
        expected.avg_price,
        expected.realized_pnl,
    )
    assert list(pos.fills) == ["a.02", "b.01", "c.01"]


def test_a_round_trip_to_flat_realises_exactly_proceeds_minus_cost() -> None:
    figs = figures_from([pf("a", 1, 1), pf("b", 2, 2), pf("c", -3, 2)], ONE)
    assert figs.quantity == 0
    assert figs.realized_pnl == D(1)


def test_figures_do_not_depend_on_the_callers_decimal_context() -> None:
    fills = [pf("a", 100, "228.5833333333"), pf("b", -50, "230.1")]
    reference = figures_from(fills, ONE)
    with localcontext() as ctx:
        ctx.prec = 6
        assert figures_from(fills, ONE) == reference


def test_a_correction_of_an_earlier_fill_does_not_move_the_mark() -> None:
    lg = Ledger(LedgerConfig())
    feed(
        lg,
        [
            intent(1, quantity=100),
            fill(1, "a.01", 10, 100),
            fill(1, "b.01", 10, 110),
            fill(1, "a.02", 10, 90),
        ],
    )
    assert lg.account.marks["AAPL"] == D(110)
    assert lg.account.equity() == D(1_000_200)
