"""Read model `account`: cash, equity, high-water mark and drawdown, now and as a curve.

The figures come from the events' own fields (`projections.equity`: cash deltas,
quantities after each fill, market prices), in the ledger's arithmetic, so they equal
the ledger's account to the last digit without decoding events or running
`Ledger.apply`. Order, kill-switch and other events do not touch the account and are
not read. The account is made from the log's `AccountOpened` (name, currency, starting
equity), not from the reader's settings.

Tables:
- `account`: one row per account, the current figures, plus the resume state
  (`projections.account_state`);
- `account_curve`: the opening, every position event, and every market event that
  moved equity or the high-water mark, at its global position and recorded time;
- `account_marks`: the mark per symbol (what position values are computed at).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, Table, Text, select

from domain import events as ev
from domain.account import Account
from projections.account_state import dump_state, load_state
from projections.base import EventRejected, Projection, insert_rows, upsert_rows
from projections.equity import EquityBook
from projections.log import LogEvent, topics_for
from projections.schema import LOG_POSITION, table_name

_OPENED = ev.AccountOpened.__name__
_FILLS = frozenset(c.__name__ for c in (ev.PositionFillApplied, ev.PositionFillCorrected))
_MARKET = {
    ev.MarketBarRecorded.__name__: EquityBook.bar,
    ev.MarketTickRecorded.__name__: EquityBook.tick,
}


class AccountProjection(Projection):
    name = "account"
    topics = topics_for(
        ev.PositionEvent,
        ev.AccountOpened,
        ev.AccountDayRolled,
        ev.MarketBarRecorded,
        ev.MarketTickRecorded,
    )

    @classmethod
    def define(cls, metadata: MetaData, version: int) -> Sequence[Table]:
        curve = table_name("account_curve", version)
        return [
            Table(
                table_name("account", version),
                metadata,
                Column("account", Text, primary_key=True),
                Column("currency", Text, nullable=False),
                Column("starting_equity", Text, nullable=False),
                Column("cash", Text, nullable=False),
                Column("equity", Text, nullable=False),
                Column("high_water_mark", Text, nullable=False),
                Column("drawdown", Text, nullable=False),
                Column("day", Text),
                Column("opening_equity", Text, nullable=False),
                Column("version", Integer, nullable=False),
                Column("position", BigInteger, nullable=False),
                Column("state", Text, nullable=False),
            ),
            Table(
                curve,
                metadata,
                Column("position", LOG_POSITION, primary_key=True, autoincrement=False),
                Column("account", Text, nullable=False),
                Column("recorded_at", BigInteger, nullable=False),
                Column("event_type", Text, nullable=False),
                Column("cash", Text, nullable=False),
                Column("equity", Text, nullable=False),
                Column("high_water_mark", Text, nullable=False),
                Column("drawdown", Text, nullable=False),
                Index(f"ix_{curve}_recorded", "recorded_at"),
            ),
            Table(
                table_name("account_marks", version),
                metadata,
                Column("symbol", Text, primary_key=True),
                Column("price", Text, nullable=False),
                Column("position", BigInteger, nullable=False),
            ),
        ]

    def __init__(self, version: int, codec: Any) -> None:
        super().__init__(version, codec)
        self._book: EquityBook | None = None
        self._curve: list[tuple[Any, ...]] = []
        # Symbols whose mark the batch may have moved -> global position of the last such
        # event. A mark changes only with its own symbol's events, so its value at the
        # flush is its value after that event.
        self._touched: dict[str, int] = {}
        self._upto: int | None = None  # global position of the batch's last event

    @property
    def book(self) -> EquityBook | None:
        """The figures after the events applied so far (None before the account opened)."""
        return self._book

    def load(self, conn: Connection) -> None:
        self.discard()
        state = conn.scalar(select(self.table("account").c.state))
        self._book = load_state(state) if state is not None else None

    def apply(self, event: LogEvent) -> None:
        book = self._book
        kind = event.type_name
        self._upto = position = event.position
        if kind in _FILLS and book is not None:  # the hot path: one row per fill
            d = event.data
            book.fill(d)
            self._touched[d["symbol"]] = position
            self._row(event, book.account)
            return
        if book is None:
            if kind != _OPENED:
                raise EventRejected(
                    position, kind, "an account event before the account was opened"
                )
            opened = event.event(self.codec)
            if not isinstance(opened, ev.AccountOpened):
                raise EventRejected(position, kind, "not an AccountOpened event")
            book = self._book = EquityBook.opened(opened)
            self._row(event, book.account)
            return
        a = book.account
        before = (a.cash, a.market_value, a.high_water_mark)
        handler = _MARKET.get(kind)
        if handler is not None:
            d = event.data
            handler(book, d)
            self._touched[d["symbol"]] = position
        else:  # AccountOpened again, AccountDayRolled: the Account's own events
            e = event.event(self.codec)
            if not isinstance(e, ev.AccountOpened | ev.AccountDayRolled):
                raise EventRejected(position, kind, "not an event of the account")
            book.apply_account_event(e)
        if kind == _OPENED or before != (a.cash, a.market_value, a.high_water_mark):
            self._row(event, a)

    def _row(self, event: LogEvent, a: Account) -> None:
        equity = a.equity()
        self._curve.append(
            (
                event.position,
                a.name,
                event.recorded_at,
                event.type_name,
                str(a.cash),
                str(equity),
                str(a.high_water_mark),
                str(a.drawdown(equity)),
            )
        )

    def flush(self, conn: Connection) -> None:
        book = self._book
        if book is not None and self._upto is not None:
            a = book.account
            insert_rows(conn, self.table("account_curve"), self._curve)
            upsert_rows(
                conn,
                self.table("account_marks"),
                [
                    {"symbol": symbol, "price": str(a.marks[symbol]), "position": position}
                    for symbol, position in self._touched.items()
                    if symbol in a.marks
                ],
                ["symbol"],
            )
            equity = a.equity()
            upsert_rows(
                conn,
                self.table("account"),
                [
                    {
                        "account": a.name,
                        "currency": a.currency,
                        "starting_equity": str(a.starting_equity),
                        "cash": str(a.cash),
                        "equity": str(equity),
                        "high_water_mark": str(a.high_water_mark),
                        "drawdown": str(a.drawdown(equity)),
                        "day": a.day.isoformat() if a.day is not None else None,
                        "opening_equity": str(a.opening_equity),
                        "version": a.version,
                        "position": self._upto,
                        "state": dump_state(book),
                    }
                ],
                ["account"],
            )
        self._curve.clear()
        self._touched.clear()
        self._upto = None

    def discard(self) -> None:
        self._book = None
        self._curve.clear()
        self._touched.clear()
        self._upto = None
