"""Every message the fake TWS emits, decoded by ib_async's own Decoder.

Each message is framed by the fake, unframed as ib_async's client does, fed
to `Decoder.interpret` with a real `IB()` wrapper behind a recording proxy,
and the wrapper's resulting objects are checked field by field. The decoder
swallows its own exceptions (it logs them), so every test also asserts that
nothing was logged at ERROR.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB
from ib_async.decoder import Decoder
from ib_async.util import UNSET_DOUBLE

from tests.fakes import tws_messages as m
from tests.fakes.tws_protocol import frame
from tests.fakes.tws_state import TwsCommission, TwsContract, TwsExecution, TwsOrder, TwsPosition

AAPL = TwsContract("AAPL", con_id=265598)
REF = "6f1c2d3e-0000-4000-8000-00000000abcd"


class Recorder:
    """Forwards to the real wrapper and records each method call."""

    def __init__(self, wrapper: Any) -> None:
        self._wrapper = wrapper
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._wrapper, name)
        if not callable(target):
            return target

        def record(*args: Any) -> Any:
            self.calls.append((name, args))
            return target(*args)

        return record

    def last(self, name: str) -> tuple[Any, ...]:
        return next(args for called, args in reversed(self.calls) if called == name)


class Harness:
    def __init__(self, version: int) -> None:
        self.version = version
        self.ib = IB()
        self.recorder = Recorder(self.ib.wrapper)
        self.decoder = Decoder(self.recorder, version)  # type: ignore[arg-type]

    def feed(self, fields: m.Fields) -> None:
        data = frame(fields)
        # Unframe exactly as ib_async's Client._onSocketHasData does.
        (length,) = struct.unpack(">I", data[:4])
        assert length == len(data) - 4
        parts = data[4:].decode().split("\0")
        assert parts.pop() == ""
        self.decoder.interpret(parts)  # type: ignore[no-untyped-call]

    def start(self, key: Any) -> asyncio.Future[Any]:
        return self.ib.wrapper.startReq(key)  # type: ignore[no-untyped-call,no-any-return]


@pytest.fixture(autouse=True)
def no_decoder_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="ib_async")
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def run_in_loop(body: Callable[[], None]) -> None:
    """The wrapper creates asyncio futures, so decode inside a running loop."""

    async def main() -> None:
        body()

    asyncio.run(main())


def order(**overrides: Any) -> TwsOrder:
    fields: dict[str, Any] = dict(
        order_id=7, perm_id=880000007, client_id=3, account="DU1234567", contract=AAPL,
        action="BUY", quantity=Decimal(100), order_type="LMT", lmt_price=Decimal("150.25"),
        order_ref=REF,
    )  # fmt: skip
    fields.update(overrides)
    return TwsOrder(**fields)


def execution(**overrides: Any) -> TwsExecution:
    fields: dict[str, Any] = dict(
        exec_id="0000e0d5.6553a6b2.01.01", order_id=7, perm_id=880000007, client_id=3,
        account="DU1234567", contract=AAPL, side="BOT", shares=Decimal(40),
        price=Decimal("150.1"), cum_qty=Decimal(40), avg_price=Decimal("150.1"),
        time=datetime(2024, 1, 2, 15, 30, 5, tzinfo=UTC), order_ref=REF,
    )  # fmt: skip
    fields.update(overrides)
    return TwsExecution(**fields)


VERSIONS = [176, 177, 178]


def test_next_valid_id_and_managed_accounts() -> None:
    h = Harness(178)
    h.feed(m.next_valid_id(42))
    h.feed(m.managed_accounts(["DU1234567", "DU7654321"]))
    assert h.recorder.last("nextValidId") == (42,)
    assert h.ib.wrapper.accounts == ["DU1234567", "DU7654321"]


@pytest.mark.parametrize("version", [165, 178])
def test_error_message(version: int) -> None:
    h = Harness(version)
    seen: list[tuple[Any, ...]] = []
    h.ib.errorEvent += lambda *args: seen.append(args)
    h.feed(m.error(-1, 2104, "Market data farm connection is OK:usfarm", version))
    assert seen == [(-1, 2104, "Market data farm connection is OK:usfarm", None)]


def test_current_time() -> None:
    h = Harness(178)
    h.feed(m.current_time(1_704_209_405))
    assert h.recorder.last("currentTime") == (1_704_209_405,)


def test_position_and_end() -> None:
    def body() -> None:
        h = Harness(178)
        future = h.start("positions")
        h.feed(m.position(TwsPosition("DU1234567", AAPL, Decimal(-25), Decimal("151.37"))))
        h.feed(m.position_end())
        (pos,) = future.result()
        assert (pos.account, pos.position, pos.avgCost) == ("DU1234567", -25.0, 151.37)
        c = pos.contract
        assert (c.conId, c.symbol, c.secType, c.exchange, c.currency) == (
            265598, "AAPL", "STK", "SMART", "USD",
        )  # fmt: skip

    run_in_loop(body)


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_then_status(version: int) -> None:
    def body() -> None:
        h = Harness(version)
        future = h.start("openOrders")
        o = order(status="Submitted")
        h.feed(m.open_order(o, version))
        h.feed(m.order_status(o))
        h.feed(m.open_order_end())
        (trade,) = future.result()
        io = trade.order
        assert (io.orderId, io.permId, io.clientId, io.account, io.orderRef) == (
            7, 880000007, 3, "DU1234567", REF,
        )  # fmt: skip
        assert (io.action, io.totalQuantity, io.orderType, io.lmtPrice, io.tif) == (
            "BUY", 100.0, "LMT", 150.25, "DAY",
        )  # fmt: skip
        assert io.auxPrice == UNSET_DOUBLE
        assert io.whatIf is False
        assert trade.contract.symbol == "AAPL"
        st = trade.orderStatus
        assert (st.status, st.filled, st.remaining, st.permId, st.clientId) == (
            "Submitted", 0.0, 100.0, 880000007, 3,
        )  # fmt: skip

    run_in_loop(body)


def test_order_status_update_after_partial_fill() -> None:
    def body() -> None:
        h = Harness(178)
        o = order()
        h.feed(m.open_order(o, 178))
        o.filled, o.avg_fill_price, o.last_fill_price = (
            Decimal(40),
            Decimal("150.1"),
            Decimal("150.1"),
        )
        h.feed(m.order_status(o))
        (trade,) = h.ib.trades()
        st = trade.orderStatus
        assert (st.filled, st.remaining, st.avgFillPrice, st.lastFillPrice) == (
            40.0, 60.0, 150.1, 150.1,
        )  # fmt: skip

    run_in_loop(body)


@pytest.mark.parametrize("version", VERSIONS)
def test_completed_order(version: int) -> None:
    def body() -> None:
        h = Harness(version)
        future = h.start("completedOrders")
        o = order(
            status="Filled", filled=Decimal(100), completed_time="20240102 10:30:05 US/Eastern"
        )
        h.feed(m.completed_order(o, version))
        h.feed(m.completed_orders_end())
        (trade,) = future.result()
        io = trade.order
        assert (io.permId, io.orderRef, io.account, io.totalQuantity, io.filledQuantity) == (
            880000007, REF, "DU1234567", 100.0, 100.0,
        )  # fmt: skip
        assert (io.action, io.orderType, io.lmtPrice) == ("BUY", "LMT", 150.25)
        assert trade.orderStatus.status == "Filled"
        assert trade.contract.conId == 265598

    run_in_loop(body)


@pytest.mark.parametrize("version", VERSIONS)
def test_execution_as_reply_with_commission(version: int) -> None:
    def body() -> None:
        h = Harness(version)
        future = h.start(5)
        ex = execution()
        h.feed(m.execution(5, ex, version, "US/Eastern"))
        h.feed(m.commission_report(TwsCommission(ex.exec_id, Decimal("1.25"))))
        h.feed(m.execution_end(5))
        (fill,) = future.result()
        e = fill.execution
        assert (e.execId, e.acctNumber, e.side, e.shares, e.price) == (
            "0000e0d5.6553a6b2.01.01", "DU1234567", "BOT", 40.0, 150.1,
        )  # fmt: skip
        assert (e.permId, e.orderId, e.clientId, e.cumQty, e.avgPrice, e.orderRef) == (
            880000007, 7, 3, 40.0, 150.1, REF,
        )  # fmt: skip
        # 10:30:05 New York time is 15:30:05 UTC.
        assert e.time == datetime(2024, 1, 2, 15, 30, 5, tzinfo=UTC)
        assert fill.contract.symbol == "AAPL"
        cr = fill.commissionReport
        assert (cr.execId, cr.commission, cr.currency, cr.realizedPNL) == (
            ex.exec_id, 1.25, "USD", 0.0,
        )  # fmt: skip

    run_in_loop(body)


def test_live_execution_reaches_the_trade() -> None:
    def body() -> None:
        h = Harness(178)
        seen: list[Any] = []
        h.ib.execDetailsEvent += lambda trade, fill: seen.append((trade, fill))
        h.feed(m.open_order(order(), 178))
        h.feed(m.execution(-1, execution(), 178, "US/Eastern"))
        ((trade, fill),) = seen
        assert trade.order.orderRef == REF
        assert fill.execution.shares == 40.0

    run_in_loop(body)


def test_account_updates() -> None:
    def body() -> None:
        h = Harness(178)
        future = h.start("accountValues")
        pos = TwsPosition("DU1234567", AAPL, Decimal(100), Decimal("150"))
        h.feed(m.account_value("NetLiquidation", "1000000.00", "USD", "DU1234567"))
        h.feed(m.portfolio_value(pos, Decimal("151")))
        h.feed(m.account_time("15:30"))
        h.feed(m.account_download_end("DU1234567"))
        assert future.done()
        assert h.recorder.last("updateAccountTime") == ("15:30",)
        assert h.recorder.last("accountDownloadEnd") == ("DU1234567",)
        (value,) = h.ib.accountValues()
        assert (value.tag, value.value, value.currency, value.account) == (
            "NetLiquidation", "1000000.00", "USD", "DU1234567",
        )  # fmt: skip
        (item,) = h.ib.portfolio()
        assert (item.position, item.marketPrice, item.marketValue, item.averageCost) == (
            100.0, 151.0, 15100.0, 150.0,
        )  # fmt: skip
        assert (item.unrealizedPNL, item.account) == (100.0, "DU1234567")

    run_in_loop(body)


def test_account_updates_multi() -> None:
    def body() -> None:
        h = Harness(178)
        future = h.start(9)
        h.feed(m.account_update_multi(9, "DU1234567", "TotalCashValue", "5.5", "USD"))
        h.feed(m.account_update_multi_end(9))
        assert future.done()
        (value,) = h.ib.accountValues()
        assert (value.tag, value.value, value.modelCode) == ("TotalCashValue", "5.5", "")

    run_in_loop(body)
