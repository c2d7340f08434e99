"""Builders of contract messages and helpers to feed them to a `Ledger`, shared by the
ledger-core tests (unit, property, integration, e2e).

Every builder returns a validated contract model (so a test cannot build a message the
contracts would refuse without noticing); `line` turns one into the canonical JSON bytes
of a JSONL file. Times default to a fixed session on 2025-11-17 (UTC); `at(n)` is `n`
seconds after its start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import orjson
from hypothesis import strategies as st

from contracts import (
    BarEvent,
    ContractMessage,
    ContractValidationError,
    ExecutionReport,
    OFIEvent,
    OrderIntent,
    TickEvent,
    message_to_json,
    parse_message,
)
from domain import events as ev
from domain.ledger import Ledger, Outcome
from projections.views import killswitch_row, order_rows, position_rows

SESSION_START = datetime(2025, 11, 17, 14, 30, tzinfo=UTC)
NOW = datetime(2025, 11, 17, 15, 0, tzinfo=UTC)

Number = Decimal | int | str


def at(seconds: float = 0, *, day: int = 0) -> datetime:
    """`seconds` after the session start, `day` UTC days later."""
    return SESSION_START + timedelta(days=day, seconds=seconds)


def uid(n: int) -> UUID:
    """A readable, deterministic intent id: uid(1) == 00000000-...-000000000001."""
    return UUID(int=n)


def _dec(x: Number | None) -> Decimal | None:
    return None if x is None else Decimal(x)


def intent(
    intent_id: UUID | int,
    *,
    symbol: str = "AAPL",
    direction: str = "BUY",
    quantity: Number = 100,
    order_type: str = "MARKET",
    timestamp: datetime | None = None,
    limit_price: Number | None = None,
    stop_price: Number | None = None,
    account: str | None = None,
) -> OrderIntent:
    iid = uid(intent_id) if isinstance(intent_id, int) else intent_id
    return OrderIntent.model_validate(
        {
            "intent_id": iid,
            "symbol": symbol,
            "direction": direction,
            "quantity": Decimal(quantity),
            "order_type": order_type,
            "timestamp": timestamp or at(),
            "limit_price": _dec(limit_price),
            "stop_price": _dec(stop_price),
            "account": account,
        }
    )


def report(
    intent_id: UUID | int,
    status: str,
    *,
    filled: Number = 0,
    avg: Number = 0,
    exec_id: str | None = None,
    last_quantity: Number | None = None,
    last_price: Number | None = None,
    commission: Number | None = None,
    symbol: str = "AAPL",
    order_id: str = "1001",
    timestamp: datetime | None = None,
    reject_reason: str | None = None,
    account: str | None = None,
) -> ExecutionReport:
    iid = uid(intent_id) if isinstance(intent_id, int) else intent_id
    return ExecutionReport.model_validate(
        {
            "intent_id": iid,
            "order_id": order_id,
            "symbol": symbol,
            "status": status,
            "filled_quantity": Decimal(filled),
            "avg_fill_price": Decimal(avg),
            "timestamp": timestamp or at(1),
            "reject_reason": reject_reason,
            "account": account,
            "exec_id": exec_id,
            "last_quantity": _dec(last_quantity),
            "last_price": _dec(last_price),
            "commission": _dec(commission),
        }
    )


def fill(
    intent_id: UUID | int,
    exec_id: str,
    quantity: Number,
    price: Number,
    *,
    cumulative: Number | None = None,
    avg: Number | None = None,
    status: str = "PARTIAL_FILL",
    commission: Number | None = None,
    symbol: str = "AAPL",
    timestamp: datetime | None = None,
) -> ExecutionReport:
    """A report carrying one execution (`exec_id`, `last_quantity` at `last_price`).

    The cumulative fields default to this fill alone; the ledger decides from the
    execution, the cumulative fields only have to be valid."""
    return report(
        intent_id,
        status,
        filled=cumulative if cumulative is not None else quantity,
        avg=avg if avg is not None else price,
        exec_id=exec_id,
        last_quantity=quantity,
        last_price=price,
        commission=commission,
        symbol=symbol,
        timestamp=timestamp,
    )


def bar(
    symbol: str, close: Number, timestamp: datetime | None = None, *, bar_size: str | None = "1min"
) -> BarEvent:
    c = Decimal(close)
    return BarEvent.model_validate(
        {
            "symbol": symbol,
            "timestamp": timestamp or at(),
            "open": c,
            "high": c,
            "low": c,
            "close": c,
            "volume": Decimal(1000),
            "bar_size": bar_size,
        }
    )


def tick(
    symbol: str,
    price: Number,
    timestamp: datetime | None = None,
    *,
    tick_type: str = "TRADE",
    size: Number = 100,
) -> TickEvent:
    return TickEvent.model_validate(
        {
            "symbol": symbol,
            "timestamp": timestamp or at(),
            "price": Decimal(price),
            "size": Decimal(size),
            "tick_type": tick_type,
        }
    )


def ofi(symbol: str, value: Number = "0.1", timestamp: datetime | None = None) -> OFIEvent:
    return OFIEvent.model_validate(
        {
            "symbol": symbol,
            "timestamp": timestamp or at(),
            "ofi_value": Decimal(value),
            "volume_imbalance": Decimal("0.05"),
            "bid_volume": Decimal(500),
            "ask_volume": Decimal(450),
        }
    )


# ---------------------------------------------------------------------------- files


def line(msg: ContractMessage) -> bytes:
    """The canonical JSON of a message, as one JSONL line (without the newline)."""
    return message_to_json(msg)


def write_jsonl(path: Path, items: Iterable[ContractMessage | bytes | str]) -> Path:
    """A JSONL file: messages as canonical JSON, bytes/str written as given (invalid lines)."""
    chunks: list[bytes] = []
    for item in items:
        if isinstance(item, bytes):
            chunks.append(item)
        elif isinstance(item, str):
            chunks.append(item.encode())
        else:
            chunks.append(line(item))
    path.write_bytes(b"".join(c + b"\n" for c in chunks))
    return path


# ---------------------------------------------------------------------------- feeding


@dataclass
class Fed:
    """What feeding a ledger produced: one outcome per message, the events drained."""

    outcomes: list[Outcome]
    events: list[ev.LedgerEvent]


def feed(
    ledger: Ledger,
    messages: Sequence[ContractMessage],
    *,
    source: str = "test",
    now: datetime = NOW,
    start: int = 1,
) -> Fed:
    """Handle each message as the application would (source `test@<n>`), then drain."""
    outcomes = [ledger.handle(m, f"{source}@{i}", now) for i, m in enumerate(messages, start)]
    return Fed(outcomes, ledger.drain())


def feed_lines(
    ledger: Ledger, lines: Sequence[bytes], *, source: str = "file:/x.jsonl", now: datetime = NOW
) -> Fed:
    """Parse then handle, quarantining what fails validation, like `LedgerApplication`."""
    outcomes: list[Outcome] = []
    for i, raw in enumerate(lines, 1):
        try:
            msg = parse_message(raw)
        except ContractValidationError as e:
            outcomes.append(ledger.quarantine(source, i, raw, orjson.dumps(e.errors).decode(), now))
        else:
            outcomes.append(ledger.handle(msg, f"{source}@{i}", now))
    return Fed(outcomes, ledger.drain())


# ---------------------------------------------------------------------------- state


def account_fields(ledger: Ledger) -> dict[str, Any]:
    a = ledger.account
    return {
        "cash": a.cash,
        "equity": a.equity(),
        "high_water_mark": a.high_water_mark,
        "day": a.day,
        "opening_equity": a.opening_equity,
        "daily_returns": list(a.daily_returns),
        "marks": dict(a.marks),
    }


def state_of(ledger: Ledger, *, sort_orders: bool = False) -> dict[str, Any]:
    """Everything a reader sees: the CLI rows, the kill switch and the account figures."""
    orders = order_rows(ledger)
    if sort_orders:
        orders = sorted(orders, key=lambda r: r["intent_id"])
    return {
        "positions": position_rows(ledger),
        "orders": orders,
        "kill_switch": killswitch_row(ledger),
        "account": account_fields(ledger),
    }


def event_kinds(events: Iterable[ev.LedgerEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def day(n: int) -> date:
    return (SESSION_START + timedelta(days=n)).date()


# ---------------------------------------------------------------------------- references


def psr_float(returns: Sequence[Decimal | float]) -> float | None:
    """Probabilistic Sharpe Ratio (Bailey & Lopez de Prado) in binary floating point with
    numpy: an independent reference for the domain's Decimal implementation.

    SR uses the sample standard deviation; skewness and (non-excess) kurtosis the
    population moments. None when the ratio is undefined."""
    r = np.array([float(x) for x in returns], dtype=np.float64)
    n = r.size
    if n < 3:
        return None
    d = r - r.mean()
    m2 = float(np.mean(d**2))
    if m2 == 0.0:
        return None
    sr = float(r.mean()) / float(np.std(r, ddof=1))
    skew = float(np.mean(d**3)) / m2**1.5
    kurt = float(np.mean(d**4)) / m2**2
    var = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if var <= 0.0:
        return None
    z = sr * math.sqrt(n - 1) / math.sqrt(var)
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# ---------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Planned:
    """One message of a generated session before it is given its time: `build` is a
    builder above with every argument but `timestamp` bound."""

    kind: str
    build: Callable[..., ContractMessage]

    def at(self, ts: datetime) -> ContractMessage:
        return self.build(timestamp=ts)


def _order_plan(draw: st.DrawFn, n: int, symbol: str) -> list[Planned]:
    """A plausible lifecycle for order `n`: intent, maybe SUBMITTED/ACKNOWLEDGED, fills
    (executions with ids, or cumulative reports without), maybe a price correction, and
    an end (filled, canceled, rejected, or still working)."""
    side = draw(st.sampled_from(["BUY", "SELL"]))
    qty = draw(st.integers(1, 20)) * 10
    oid = f"{1000 + n}"
    plan = [Planned("intent", partial(intent, n, symbol=symbol, direction=side, quantity=qty))]

    def status(name: str, filled: int = 0) -> Planned:
        return Planned(name, partial(report, n, name, filled=filled, symbol=symbol, order_id=oid))

    if draw(st.booleans()):
        plan.append(status("SUBMITTED"))
    if draw(st.booleans()):
        plan.append(status("ACKNOWLEDGED"))
    if draw(st.integers(0, 5)) == 0:
        plan.append(status("REJECTED"))
        return plan
    cum = 0
    implied = draw(st.booleans())
    price = Decimal(draw(st.integers(9000, 11000))) / 100
    for j, part in enumerate(draw(st.lists(st.integers(1, 10), max_size=4))):
        q = min(part * qty // 20 or 1, qty - cum)
        if q <= 0:
            break
        cum += q
        done = "FILLED" if cum == qty else "PARTIAL_FILL"
        if implied:  # one price per order: the cumulative average stays exact
            plan.append(
                Planned(
                    "fill",
                    partial(report, n, done, filled=cum, avg=price, symbol=symbol, order_id=oid),
                )
            )
            continue
        execution = partial(
            fill,
            n,
            quantity=q,
            cumulative=cum,
            status=done,
            symbol=symbol,
            commission=Decimal("0.01") * q,
        )
        plan.append(
            Planned("fill", partial(execution, exec_id=f"{n:04x}.{j:02d}.01", price=price + j))
        )
        if draw(st.integers(0, 3)) == 0:  # corrected later, at another price
            plan.append(
                Planned(
                    "correction",
                    partial(
                        execution, exec_id=f"{n:04x}.{j:02d}.02", price=price + j - Decimal("0.5")
                    ),
                )
            )
    if cum < qty and draw(st.booleans()):
        plan.append(status("CANCELED", cum))
    return plan


@st.composite
def sessions(
    draw: st.DrawFn,
    *,
    max_orders: int = 4,
    own_symbols: bool = False,
    market: bool = True,
    spacing: Sequence[int] = (1,),
) -> list[ContractMessage]:
    """A valid session: a few orders' lifecycles interleaved at random (each order's
    messages keep their order), with bars and ticks, timestamps increasing by `spacing`
    seconds (one drawn per session; a large spacing crosses UTC days)."""
    symbols = ["AAPL", "MSFT"]
    n_orders = draw(st.integers(1, max_orders))
    lanes: list[list[Planned]] = []
    for n in range(1, n_orders + 1):
        symbol = f"S{n}" if own_symbols else draw(st.sampled_from(symbols))
        lanes.append(_order_plan(draw, n, symbol))
    if market:
        prices = st.integers(9500, 10500).map(lambda c: Decimal(c) / 100)
        ticks = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["bar", "tick"]),
                    st.sampled_from(["AAPL", "MSFT", "S1", "S2"]),
                    prices,
                ),
                max_size=6,
            )
        )
        lanes.append(
            [
                Planned(kind, partial(bar if kind == "bar" else tick, sym, price))
                for kind, sym, price in ticks
            ]
        )
    step = draw(st.sampled_from(list(spacing)))
    out: list[ContractMessage] = []
    cursors = [0] * len(lanes)
    while any(c < len(lane) for c, lane in zip(cursors, lanes, strict=True)):
        open_lanes = [i for i, lane in enumerate(lanes) if cursors[i] < len(lane)]
        i = draw(st.sampled_from(open_lanes))
        out.append(lanes[i][cursors[i]].at(at(len(out) * step)))
        cursors[i] += 1
    return out
