"""Read model `account`: cash, equity, high-water mark and drawdown, now and as a curve.

Equity is computed by the domain itself: an in-memory `Ledger` to which the projection
applies the position, market and account events (`Ledger.apply`, the one state
mutation the live ledger uses), so the figures cannot drift from `domain/account.py`.
Order, kill-switch and other events do not touch the account and are not read. The
Ledger is made from the log's `AccountOpened` (name, currency, starting equity), not
from the reader's settings.

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
from uuid import UUID

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, Table, Text, select

from domain import events as ev
from domain.ledger import Ledger, LedgerConfig
from projections.account_state import dump_state, keep_last_fill, load_state
from projections.base import EventRejected, Projection, insert_rows, upsert_rows
from projections.log import LogEvent, topics_for
from projections.schema import table_name

_PRICED = (ev.PositionEvent, ev.MarketEvent)
_ALWAYS_ROW = (ev.PositionEvent, ev.AccountOpened)


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
                Column("position", BigInteger, primary_key=True, autoincrement=False),
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
        self._ledger: Ledger | None = None
        self._curve: list[tuple[Any, ...]] = []
        self._marks: dict[str, dict[str, Any]] = {}
        self._last: tuple[int, int] | None = None  # (version, position) of the last event
        self._uuids: dict[str, UUID] = {}

    def load(self, conn: Connection) -> None:
        self.discard()
        state = conn.scalar(select(self.table("account").c.state))
        self._ledger = load_state(state) if state is not None else None

    def apply(self, event: LogEvent) -> None:
        # The originators here are a few positions, markets and the account: reuse their UUIDs.
        oid = self._uuids.get(event.originator_id)
        if oid is None:
            oid = self._uuids[event.originator_id] = UUID(event.originator_id)
        e = event.event(self.codec, oid)
        ledger = self._ledger
        if ledger is None:
            if not isinstance(e, ev.AccountOpened):
                raise EventRejected(
                    event.position,
                    event.type_name,
                    "an account event before the account was opened",
                )
            ledger = self._ledger = Ledger(
                LedgerConfig(
                    account=e.account, currency=e.currency, starting_equity=e.starting_equity
                )
            )
        a = ledger.account
        before = (a.cash, a.market_value, a.high_water_mark)
        ledger.apply(e)
        if isinstance(e, _PRICED):
            mark = a.marks.get(e.symbol)
            if mark is not None:
                self._marks[e.symbol] = {
                    "symbol": e.symbol,
                    "price": str(mark),
                    "position": event.position,
                }
        if isinstance(e, _ALWAYS_ROW) or before != (
            a.cash,
            a.market_value,
            a.high_water_mark,
        ):
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
        self._last = (a.version, event.position)

    def flush(self, conn: Connection) -> None:
        ledger = self._ledger
        if ledger is not None and self._last is not None:
            insert_rows(conn, self.table("account_curve"), self._curve)
            upsert_rows(conn, self.table("account_marks"), list(self._marks.values()), ["symbol"])
            # Bounded memory and state, the same whatever the batches (see account_state).
            keep_last_fill(ledger)
            a = ledger.account
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
                        "version": self._last[0],
                        "position": self._last[1],
                        "state": dump_state(ledger),
                    }
                ],
                ["account"],
            )
        self._curve.clear()
        self._marks.clear()
        self._last = None

    def discard(self) -> None:
        self._ledger = None
        self._curve.clear()
        self._marks.clear()
        self._last = None
