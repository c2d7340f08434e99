"""Reading the read models: the rows the CLI prints and the figures Prometheus exports.

Rows have exactly the shapes of `projections.views` (the CLI's JSON contract): the
listings read from the tables equal the in-memory ledger's, value for value.

A `ReadModels` works inside one read transaction and resolves the live version of
each projection once; `read` retries when a rebuild dropped the version it resolved
between the two statements (a swap is atomic, the drop of the old tables comes after).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from domain.order_table import WORKING
from projections.log import EventSource
from projections.registry import table_of
from projections.runner import ProjectionNotSetUp
from projections.schema import checkpoints_table, live_versions
from projections.views import Row

T = TypeVar("T")

WORKING_STATUSES = tuple(sorted(s.value for s in WORKING))
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PositionFigures:
    account: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    multiplier: Decimal


@dataclass(frozen=True, slots=True)
class AccountFigures:
    account: str
    cash: Decimal
    equity: Decimal
    high_water_mark: Decimal
    drawdown: Decimal


@dataclass(frozen=True, slots=True)
class Progress:
    projection: str
    version: int
    position: int
    head: int

    @property
    def behind(self) -> int:
        return max(0, self.head - self.position)


class ReadModels:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.versions = live_versions(conn)

    def table(self, projection: str, base: str) -> Table:
        version = self.versions.get(projection)
        if version is None:
            raise ProjectionNotSetUp(f"projection {projection!r} is not set up")
        return table_of(projection, version, base)

    # ------------------------------------------------------------------ CLI rows

    def positions(self) -> list[Row]:
        c = self.table("positions", "positions").c
        rows = self.conn.execute(
            select(c.account, c.symbol, c.quantity, c.avg_price, c.realized_pnl, c.commission)
        ).all()
        # Sorted in Python: (account, symbol) as the in-memory ledger sorts its keys,
        # independent of the database's collation.
        return [
            {
                "account": r.account,
                "symbol": r.symbol,
                "quantity": r.quantity,
                "avg_price": r.avg_price,
                "realized_pnl": r.realized_pnl,
                "commission": r.commission,
            }
            for r in sorted(rows, key=lambda r: (r.account, r.symbol))
        ]

    def orders(self, *, open_only: bool = False) -> list[Row]:
        c = self.table("orders", "orders").c
        q = select(
            c.intent_id, c.symbol, c.side, c.quantity, c.status, c.filled_quantity, c.avg_fill_price
        ).order_by(c.seq)
        if open_only:
            q = q.where(c.status.in_(WORKING_STATUSES))
        return [
            {
                "intent_id": r.intent_id,
                "symbol": r.symbol,
                "side": r.side,
                "quantity": r.quantity,
                "status": r.status,
                "filled_quantity": r.filled_quantity,
                "avg_fill_price": r.avg_fill_price,
            }
            for r in self.conn.execute(q)
        ]

    def killswitch(self) -> Row:
        c = self.table("killswitch", "killswitch").c
        r = self.conn.execute(select(c.state, c.since, c.reason, c.operator, c.trigger)).first()
        if r is None:
            return {"state": "ARMED", "since": None, "reason": None, "by": None, "trigger": None}
        return {
            "state": r.state,
            "since": r.since,
            "reason": r.reason or None,
            "by": r.operator or None,
            "trigger": r.trigger or None,
        }

    # ------------------------------------------------------------------ figures

    def position_figures(self) -> list[PositionFigures]:
        c = self.table("positions", "positions").c
        rows = self.conn.execute(
            select(c.account, c.symbol, c.quantity, c.avg_price, c.realized_pnl, c.multiplier)
        )
        return sorted(
            (
                PositionFigures(
                    r.account,
                    r.symbol,
                    Decimal(r.quantity),
                    Decimal(r.avg_price),
                    Decimal(r.realized_pnl),
                    Decimal(r.multiplier),
                )
                for r in rows
            ),
            key=lambda p: (p.account, p.symbol),
        )

    def marks(self) -> dict[str, Decimal]:
        c = self.table("account", "account_marks").c
        return {r.symbol: Decimal(r.price) for r in self.conn.execute(select(c.symbol, c.price))}

    def accounts(self) -> list[AccountFigures]:
        c = self.table("account", "account").c
        q = select(c.account, c.cash, c.equity, c.high_water_mark, c.drawdown).order_by(c.account)
        return [
            AccountFigures(
                r.account,
                Decimal(r.cash),
                Decimal(r.equity),
                Decimal(r.high_water_mark),
                Decimal(r.drawdown),
            )
            for r in self.conn.execute(q)
        ]

    def order_counts(self) -> dict[str, int]:
        c = self.table("orders", "orders").c
        q = select(c.status, func.count()).group_by(c.status)
        return {str(r[0]): int(r[1]) for r in self.conn.execute(q)}

    def counters(self) -> dict[tuple[str, str], int]:
        c = self.table("metrics", "metrics").c
        return {
            (r.metric, r.label): int(r.value)
            for r in self.conn.execute(select(c.metric, c.label, c.value))
        }

    def progress(self, source: EventSource) -> list[Progress]:
        """Where each live projection is, against the log's head."""
        head = source.head(self.conn)
        c = checkpoints_table.c
        at = {
            (r.projection, r.version): int(r.position)
            for r in self.conn.execute(select(c.projection, c.version, c.position))
        }
        return [
            Progress(name, v, at.get((name, v), 0), head)
            for name, v in sorted(self.versions.items())
        ]


def position_value(p: PositionFigures, marks: dict[str, Decimal]) -> Decimal:
    """As `Account.position_value`: quantity x mark x multiplier."""
    return p.quantity * marks.get(p.symbol, ZERO) * p.multiplier


def unrealized_pnl(p: PositionFigures, marks: dict[str, Decimal]) -> Decimal:
    """Value at the mark less the cost of the open quantity at its average price."""
    return position_value(p, marks) - p.quantity * p.avg_price * p.multiplier


def read(engine: Engine, fn: Callable[[ReadModels], T], *, attempts: int = 3) -> T:
    """Run `fn` in one read transaction; retry if a rebuild dropped a version under it."""
    failures = 0
    while True:
        try:
            with engine.begin() as conn:
                return fn(ReadModels(conn))
        except (OperationalError, ProgrammingError) as e:
            failures += 1
            text = str(e.orig).lower()
            if failures >= attempts or not ("no such table" in text or "does not exist" in text):
                raise
