"""Read model `positions`: one row per (account, symbol), as the position events state it.

Position events carry the figures *after* the fill (quantity, average price,
realised PnL, commissions), so the row is the last event's figures: no arithmetic
here, and the exact Decimal text of the log (what `ledger positions` prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, Table, Text

from domain import events as ev
from projections.base import Projection, upsert_rows
from projections.log import LogEvent, topics_for
from projections.schema import table_name


class PositionsProjection(Projection):
    name = "positions"
    topics = topics_for(ev.PositionEvent)

    @classmethod
    def define(cls, metadata: MetaData, version: int) -> Sequence[Table]:
        return [
            Table(
                table_name("positions", version),
                metadata,
                Column("account", Text, primary_key=True),
                Column("symbol", Text, primary_key=True),
                Column("quantity", Text, nullable=False),
                Column("avg_price", Text, nullable=False),
                Column("realized_pnl", Text, nullable=False),
                Column("commission", Text, nullable=False),
                Column("multiplier", Text, nullable=False),
                Column("version", Integer, nullable=False),  # the position aggregate's version
                Column("position", BigInteger, nullable=False),  # global position of its last event
            )
        ]

    def __init__(self, version: int, codec: Any) -> None:
        super().__init__(version, codec)
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}

    def apply(self, event: LogEvent) -> None:
        d = event.data
        key = (d["account"], d["symbol"])
        self._rows[key] = {
            "account": key[0],
            "symbol": key[1],
            "quantity": d["quantity"],
            "avg_price": d["avg_price"],
            "realized_pnl": d["realized_pnl"],
            "commission": d["commission"],
            "multiplier": d["multiplier"],
            "version": event.version,
            "position": event.position,
        }

    def flush(self, conn: Connection) -> None:
        upsert_rows(conn, self.table("positions"), list(self._rows.values()), ["account", "symbol"])
        self._rows.clear()

    def discard(self) -> None:
        self._rows.clear()
