"""Read model `positions`: one row per (account, symbol), as the position events state it.

Position events carry the figures *after* the fill (quantity, average price,
realised PnL, commissions), so the row is the last event's figures: no arithmetic
here, and the exact Decimal text of the log (what `ledger positions` prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, Table, Text

from domain import events as ev
from projections.base import Projection, upsert_rows
from projections.log import LogEvent, topics_for
from projections.schema import table_name

_FIGURE_NAMES = ("quantity", "avg_price", "realized_pnl", "commission", "multiplier")
_FIGURES = itemgetter(*_FIGURE_NAMES)


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
        # (account, symbol) -> the figures of the position's last event in the batch, its
        # aggregate version and global position. Rows are made for the last ones only.
        self._last: dict[tuple[str, str], tuple[tuple[str, ...], int, int]] = {}

    def apply(self, event: LogEvent) -> None:
        d = event.data
        self._last[(d["account"], d["symbol"])] = (_FIGURES(d), event.version, event.position)

    def flush(self, conn: Connection) -> None:
        rows = [
            {
                "account": account,
                "symbol": symbol,
                **dict(zip(_FIGURE_NAMES, figures, strict=True)),
                "version": version,
                "position": position,
            }
            for (account, symbol), (figures, version, position) in self._last.items()
        ]
        upsert_rows(conn, self.table("positions"), rows, ["account", "symbol"])
        self._last.clear()

    def discard(self) -> None:
        self._last.clear()
