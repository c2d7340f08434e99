"""Read model `orders`: every order, in log order, with its current status and fills.

`seq` is the global position of the order's intent event, so ordering by it is
the in-memory ledger's order (dicts keep insertion order). `status` is indexed:
the open orders are the few rows in the working states. Status and fill figures
come straight from the events (each states the order's status and cumulative
fill after it), as `Order.apply` takes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from domain import events as ev
from projections.base import EventRejected, Projection, insert_rows
from projections.log import LogEvent, topics_for
from projections.schema import table_name

_INTENT = ev.OrderIntentRecorded.__name__
_FILLS = frozenset(
    c.__name__ for c in (ev.OrderPartiallyFilled, ev.OrderFilled, ev.OrderFillCorrected)
)
_CHUNK = 500


class OrdersProjection(Projection):
    name = "orders"
    topics = topics_for(ev.OrderEvent)

    _COLUMNS = (
        "intent_id",
        "seq",
        "symbol",
        "side",
        "quantity",
        "order_type",
        "limit_price",
        "stop_price",
        "account",
        "origin",
        "status",
        "filled_quantity",
        "avg_fill_price",
        "version",
        "position",
    )

    @classmethod
    def define(cls, metadata: MetaData, version: int) -> Sequence[Table]:
        name = table_name("orders", version)
        return [
            Table(
                name,
                metadata,
                Column("intent_id", Text, primary_key=True),
                Column("seq", BigInteger, nullable=False),  # position of the intent event
                Column("symbol", Text, nullable=False),
                Column("side", Text, nullable=False),
                Column("quantity", Text, nullable=False),
                Column("order_type", Text, nullable=False),
                Column("limit_price", Text),
                Column("stop_price", Text),
                Column("account", Text, nullable=False),
                Column("origin", Text, nullable=False),
                Column("status", Text, nullable=False),
                Column("filled_quantity", Text, nullable=False),
                Column("avg_fill_price", Text, nullable=False),
                Column("version", Integer, nullable=False),
                Column("position", BigInteger, nullable=False),
                Index(f"ix_{name}_status", "status"),
                Index(f"ix_{name}_seq", "seq", unique=True),
            )
        ]

    def __init__(self, version: int, codec: Any) -> None:
        super().__init__(version, codec)
        self._new: dict[str, dict[str, Any]] = {}
        self._changed: dict[str, dict[str, Any]] = {}

    def apply(self, event: LogEvent) -> None:
        d, iid, kind = event.data, event.originator_id, event.type_name
        if kind == _INTENT:
            if iid in self._new:
                raise EventRejected(event.position, kind, f"order {iid} recorded twice")
            self._new[iid] = {
                "intent_id": iid,
                "seq": event.position,
                "symbol": d["symbol"],
                "side": d["side"],
                "quantity": d["quantity"],
                "order_type": d["order_type"],
                "limit_price": d["limit_price"],
                "stop_price": d["stop_price"],
                "account": d["account"],
                "origin": d["origin"],
                "status": d["status"],
                "filled_quantity": "0",
                "avg_fill_price": "0",
                "version": event.version,
                "position": event.position,
            }
            return
        row = self._new.get(iid)
        if row is None:
            row = self._changed.setdefault(
                iid,
                {
                    "iid": iid,
                    "filled": None,
                    "avg": None,
                    "first": event.position,
                    "first_type": kind,
                },
            )
        row["status"], row["version"], row["position"] = d["status"], event.version, event.position
        if kind in _FILLS:
            filled, avg = d["filled_quantity"], d["avg_fill_price"]
            if "seq" in row:
                row["filled_quantity"], row["avg_fill_price"] = filled, avg
            else:
                row["filled"], row["avg"] = filled, avg

    def flush(self, conn: Connection) -> None:
        table = self.table("orders")
        self._insert_new(conn, table)
        if self._changed:
            self._check_known(conn, table)
            c = table.c
            stmt = (
                update(table)
                .where(c.intent_id == bindparam("iid"))
                .values(
                    status=bindparam("status"),
                    filled_quantity=func.coalesce(bindparam("filled"), c.filled_quantity),
                    avg_fill_price=func.coalesce(bindparam("avg"), c.avg_fill_price),
                    version=bindparam("version"),
                    position=bindparam("position"),
                )
            )
            params = [
                {k: r[k] for k in ("iid", "status", "filled", "avg", "version", "position")}
                for r in self._changed.values()
            ]
            conn.execute(stmt, params)
        self.discard()

    def _existing(self, conn: Connection, table: Table, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), _CHUNK):
            q = select(table.c.intent_id).where(table.c.intent_id.in_(ids[i : i + _CHUNK]))
            found.update(conn.scalars(q))
        return found

    def _insert_new(self, conn: Connection, table: Table) -> None:
        """Insert the batch's new orders. An intent already in the table would be a second
        intent event for one order: the primary key refuses it, and only then (under a
        savepoint, so that PostgreSQL's transaction stays usable) is it looked for, to
        name the event. Asking first for every batch would cost more than the insert."""
        if not self._new:
            return
        row_of = itemgetter(*self._COLUMNS)
        try:
            with conn.begin_nested():
                insert_rows(conn, table, [row_of(r) for r in self._new.values()])
        except IntegrityError:
            self._check_new(conn, table)
            raise

    def _check_new(self, conn: Connection, table: Table) -> None:
        """Name the first intent of the batch that is already in the table, if any."""
        dup = self._existing(conn, table, list(self._new))
        if dup:
            first = min((self._new[i] for i in dup), key=lambda r: int(r["seq"]))
            raise EventRejected(
                int(first["seq"]),
                _INTENT,
                f"order {first['intent_id']} is already in the read model",
            )

    def _check_known(self, conn: Connection, table: Table) -> None:
        """Every changed order must exist: an event for an unknown order cannot be applied."""
        missing = set(self._changed) - self._existing(conn, table, list(self._changed))
        if missing:
            first = min((self._changed[i] for i in missing), key=lambda r: int(r["first"]))
            raise EventRejected(
                int(first["first"]),
                str(first["first_type"]),
                f"no order {first['iid']} (its intent was never recorded)",
            )

    def discard(self) -> None:
        self._new.clear()
        self._changed.clear()
