"""Snapshots of the whole ledger state: restore(snapshot(L)) then the tail == the full replay.

A snapshot is canonical JSON of every aggregate's state (Decimals as strings),
never pickle: a snapshot read back from a database must not be able to run code.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from contracts import ExecutionReport, parse_message
from domain.account import Holding
from domain.killswitch import KillSwitchState
from domain.ledger import Ledger, LedgerConfig
from domain.order import Fill, Order
from domain.order_table import OrderStatus, OrderTransition
from domain.position import Position, PositionFill
from domain.recent import Recent

FORMAT = 1


def _d(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _D(x: str | None) -> Decimal | None:
    return None if x is None else Decimal(x)


def _t(x: datetime | None) -> str | None:
    return None if x is None else x.isoformat()


def _T(x: str | None) -> datetime | None:
    return None if x is None else datetime.fromisoformat(x)


def snapshot_ledger(ledger: Ledger) -> bytes:
    a, ks = ledger.account, ledger.killswitch
    state: dict[str, Any] = {
        "format": FORMAT,
        "orders": [_order(o) for o in ledger.orders.values()],
        "positions": [
            {
                "id": str(p.id),
                "account": p.account,
                "symbol": p.symbol,
                "multiplier": _d(p.multiplier),
                "version": p.version,
                "quantity": _d(p.quantity),
                "avg_price": _d(p.avg_price),
                "realized_pnl": _d(p.realized_pnl),
                "commission": _d(p.commission),
                "last_fill_price": _d(p.last_fill_price),
                "cost": _d(p.cost),
                "fills": [
                    [f.exec_id, _d(f.signed_quantity), _d(f.price), _d(f.commission)]
                    for f in p.fills.values()
                ],
            }
            for p in ledger.positions.values()
        ],
        "account": {
            "version": a.version,
            "opened": a.opened,
            "cash": _d(a.cash),
            "day": a.day.isoformat() if a.day else None,
            "opening_equity": _d(a.opening_equity),
            "high_water_mark": _d(a.high_water_mark),
            "daily_returns": [_d(r) for r in a.daily_returns],
            "active_returns": [_d(r) for r in a.active_returns],
            "traded_today": a.traded_today,
            "marks": {k: _d(v) for k, v in a.marks.items()},
            "market_marked": sorted(a.market_marked),
            "holdings": [
                [k[0], k[1], _d(h.quantity), _d(h.multiplier)] for k, h in a.holdings.items()
            ],
            "exposure": {k: _d(v) for k, v in a.exposure.items()},
            "market_value": _d(a.market_value),
        },
        "killswitch": {
            "state": ks.state.value,
            "version": ks.version,
            "since": _t(ks.since),
            "reason": ks.reason,
            "by": ks.by,
            "trigger": ks.trigger,
        },
        "held": {str(k): [t for t, _ in v] for k, v in ledger.held.items()},
        "quarantined": sorted(str(q) for q in ledger.quarantined),
        "versions": {str(k): v for k, v in ledger.versions.items()},
        "last_bar": [[s, b, _t(t)] for (s, b), t in ledger.market.last_bar.items()],
        "last_tick": {
            s: [_t(t[0]), _d(t[1]), _d(t[2]), t[3]] for s, t in ledger.market.last_tick.items()
        },
        "last_ofi": {s: _t(t) for s, t in ledger.market.last_ofi.items()},
        "last_recorded_at": _t(ledger.last_recorded_at),
        "recent": [
            [list(stream), [_key(k) for k in memory.items()]]
            for stream, memory in ledger.market.recent.items()
        ],
    }
    return orjson.dumps(state)


def _key(k: object) -> Any:
    if isinstance(k, tuple):  # a tick: (time, price, size, type)
        return [_t(k[0]), _d(k[1]), _d(k[2]), k[3]]
    return _t(k)  # type: ignore[arg-type]


def _unkey(k: Any) -> object:
    if isinstance(k, list):
        return (_T(k[0]), Decimal(k[1]), Decimal(k[2]), k[3])
    return _T(k)


def _order(o: Order) -> dict[str, Any]:
    return {
        "intent_id": str(o.intent_id),
        "symbol": o.symbol,
        "side": o.side,
        "quantity": _d(o.quantity),
        "order_type": o.order_type,
        "limit_price": _d(o.limit_price),
        "stop_price": _d(o.stop_price),
        "account": o.account,
        "origin": o.origin,
        "status": o.status.value,
        "version": o.version,
        "status_before_cancel": o.status_before_cancel.value,
        "broker_order_id": o.broker_order_id,
        "filled": _d(o.filled),
        "avg_fill_price": _d(o.avg_fill_price),
        "commission": _d(o.commission),
        "fills": [
            [f.exec_id, _d(f.quantity), _d(f.price), _d(f.commission)] for f in o.fills.values()
        ],
        "refused": sorted(o.refused),
        "seen": sorted(t.value for t in o.seen),
        "commissions_seen": {k: sorted(str(c) for c in v) for k, v in o.commissions_seen.items()},
        "high_filled": _d(o.high_filled),
    }


def restore_ledger(data: bytes, config: LedgerConfig) -> Ledger:
    s = orjson.loads(data)
    ledger = Ledger(config)
    for o in s["orders"]:
        order = Order(
            UUID(o["intent_id"]),
            o["symbol"],
            o["side"],
            Decimal(o["quantity"]),
            o["order_type"],
            _D(o["limit_price"]),
            _D(o["stop_price"]),
            o["account"],
            o["origin"],
            OrderStatus(o["status"]),
            o["version"],
            OrderStatus(o["status_before_cancel"]),
            o["broker_order_id"],
            Decimal(o["filled"]),
            Decimal(o["avg_fill_price"]),
            Decimal(o["commission"]),
        )
        for exec_id, q, p, c in o["fills"]:
            order.fills[exec_id] = Fill(exec_id, Decimal(q), Decimal(p), Decimal(c))
            order.exec_by_base[exec_id.rpartition(".")[0] or exec_id] = exec_id
        order.refused = set(o["refused"])
        order.seen = {OrderTransition(t) for t in o["seen"]}
        order.commissions_seen = {
            k: {Decimal(c) for c in v} for k, v in o["commissions_seen"].items()
        }
        order.high_filled = Decimal(o["high_filled"])
        ledger.orders[order.intent_id] = order
    for p in s["positions"]:
        pos = Position(
            UUID(p["id"]),
            p["account"],
            p["symbol"],
            Decimal(p["multiplier"]),
            p["version"],
            Decimal(p["quantity"]),
            Decimal(p["avg_price"]),
            Decimal(p["realized_pnl"]),
            Decimal(p["commission"]),
            Decimal(p["last_fill_price"]),
            Decimal(p["cost"]),
        )
        for exec_id, q, price, c in p["fills"]:
            pos.fills[exec_id] = PositionFill(exec_id, Decimal(q), Decimal(price), Decimal(c))
        ledger.positions[(pos.account, pos.symbol)] = pos
    a, sa = ledger.account, s["account"]
    a.version, a.opened, a.cash = sa["version"], sa["opened"], Decimal(sa["cash"])
    a.day = date.fromisoformat(sa["day"]) if sa["day"] else None
    a.opening_equity = Decimal(sa["opening_equity"])
    a.high_water_mark = Decimal(sa["high_water_mark"])
    a.daily_returns = [Decimal(r) for r in sa["daily_returns"]]
    a.active_returns = [Decimal(r) for r in sa["active_returns"]]
    a.traded_today = sa["traded_today"]
    a.marks = {k: Decimal(v) for k, v in sa["marks"].items()}
    a.market_marked = set(sa["market_marked"])
    a.holdings = {
        (acct, sym): Holding(Decimal(q), Decimal(m)) for acct, sym, q, m in sa["holdings"]
    }
    a.exposure = {k: Decimal(v) for k, v in sa["exposure"].items()}
    a.market_value = Decimal(sa["market_value"])
    ks, sk = ledger.killswitch, s["killswitch"]
    ks.state, ks.version, ks.since = KillSwitchState(sk["state"]), sk["version"], _T(sk["since"])
    ks.reason, ks.by, ks.trigger = sk["reason"], sk["by"], sk["trigger"]
    for intent, texts in s["held"].items():
        reports = [(t, parse_message(t)) for t in texts]
        ledger.held[UUID(intent)] = [(t, r) for t, r in reports if isinstance(r, ExecutionReport)]
    ledger.quarantined = {UUID(q) for q in s["quarantined"]}
    ledger.versions = {UUID(k): v for k, v in s["versions"].items()}
    ledger.market.last_bar = {(sym, bar): _T(t) for sym, bar, t in s["last_bar"]}  # type: ignore[misc]
    ledger.market.last_tick = {
        sym: (_T(t[0]), Decimal(t[1]), Decimal(t[2]), t[3])  # type: ignore[misc]
        for sym, t in s["last_tick"].items()
    }
    ledger.market.last_ofi = {sym: _T(t) for sym, t in s["last_ofi"].items()}  # type: ignore[misc]
    ledger.last_recorded_at = _T(s["last_recorded_at"])
    for (kind, symbol, bar_size), keys in s["recent"]:
        memory = ledger.market.recent[(kind, symbol, bar_size)] = Recent()
        for k in keys:
            memory.add(_unkey(k))
    return ledger
