"""The account projection's arithmetic: equity from the events' own figures.

Events state what changed: a position event carries the cash it moved and the
position's quantity and multiplier after the fill, a bar or tick carries a price. So
the account projection does not need the domain events nor `Ledger.apply` (decoding a
position event into a frozen dataclass and applying it to every aggregate costs ten
times what the account's few additions do). `EquityBook` takes the stored JSON fields
(Decimals as their exact text) and repeats, operation for operation and in the
ledger's decimal context (`money.CTX`), what `Ledger.apply` does to the `Account` for
these events:

- a fill (`Account.apply_fill`, then `note_equity`): cash moves by `cash_delta`; until
  the market has marked the symbol its mark is the price of the position's last fill
  (in fill order: a correction of an earlier fill does not move it); the holding's
  quantity x multiplier changes the symbol's exposure and the market value;
- a bar or a TRADE/LAST tick (`MarketData.apply`, `Account.mark`, `note_equity`): a
  price newer than the stream's last one (bars: strictly later; ticks: not earlier)
  becomes the mark and re-values the exposure;
- the account's own events (opened, day rolled) are rare: they are decoded and applied
  by `Account.apply` itself.

The figures are the ledger's to the last digit: tests/property/test_account_equity.py
compares them with the ledger's own account on random histories.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from domain import events as ev
from domain.account import Account, Holding
from domain.money import CTX, ZERO

_add, _sub, _mul = CTX.add, CTX.subtract, CTX.multiply
_MARKING_TICKS = frozenset({"TRADE", "LAST"})

PositionKey = tuple[str, str]  # (account, symbol)


@functools.lru_cache(maxsize=64)
def _multiplier(text: str) -> Decimal:
    # An instrument's multiplier is the same text on every fill: parse it once.
    return Decimal(text)


class FillNotFound(Exception):
    """A correction of a fill that the position never had."""


@dataclass(slots=True)
class EquityBook:
    """The account and what its figures depend on: each position's last fill (exec id and
    price) and the time of each market stream's last mark."""

    account: Account
    last_fill: dict[PositionKey, tuple[str, Decimal]] = field(default_factory=dict)
    last_bar: dict[tuple[str, str | None], datetime] = field(default_factory=dict)
    last_tick: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def opened(cls, event: ev.AccountOpened) -> EquityBook:
        """A book from the log's `AccountOpened` (as the ledger builds its account)."""
        book = cls(Account(event.account, event.currency, event.starting_equity))
        book.apply_account_event(event)
        return book

    def apply_account_event(self, event: ev.AccountOpened | ev.AccountDayRolled) -> None:
        with localcontext(CTX):
            self.account.apply(event)

    # ------------------------------------------------------------------ fills

    def fill(self, d: dict[str, Any]) -> None:
        """A position event's fields (`PositionFillApplied` or `PositionFillCorrected`)."""
        a = self.account
        symbol = d["symbol"]
        key = (d["account"], symbol)
        # The position's last fill after this event, as `Position.apply` orders its fills.
        replaced = d.get("replaced_exec_id")
        last = self.last_fill.get(key)
        if replaced is None or (last is not None and last[0] == replaced):
            last = self.last_fill[key] = (d["exec_id"], Decimal(d["fill_price"]))
        elif last is None:
            raise FillNotFound(f"a correction of {replaced}, a fill {key} never had")
        a.cash = _add(a.cash, Decimal(d["cash_delta"]))
        a.traded_today = True
        if symbol not in a.market_marked:
            self._set_mark(symbol, last[1])
        quantity, multiplier = Decimal(d["quantity"]), _multiplier(d["multiplier"])
        held = a.holdings.get(key)
        if held is None:
            delta = _sub(_mul(quantity, multiplier), ZERO)
            a.holdings[key] = Holding(quantity, multiplier)
        else:
            delta = _sub(_mul(quantity, multiplier), _mul(held.quantity, held.multiplier))
            held.quantity, held.multiplier = quantity, multiplier
        if delta:
            a.exposure[symbol] = _add(a.exposure.get(symbol, ZERO), delta)
            a.market_value = _add(a.market_value, _mul(delta, a.marks.get(symbol, ZERO)))
        equity = _add(a.cash, a.market_value)
        if equity > a.high_water_mark:
            a.high_water_mark = equity

    # ------------------------------------------------------------------ marks

    def bar(self, d: dict[str, Any]) -> None:
        at = datetime.fromisoformat(d["occurred_at"])
        stream = (d["symbol"], d["bar_size"])
        last = self.last_bar.get(stream)
        if last is None or at > last:
            self.last_bar[stream] = at
            self._mark(d["symbol"], Decimal(d["close"]))

    def tick(self, d: dict[str, Any]) -> None:
        at = datetime.fromisoformat(d["occurred_at"])
        symbol = d["symbol"]
        last = self.last_tick.get(symbol)
        if last is None or at >= last:
            self.last_tick[symbol] = at
            if d["tick_type"] in _MARKING_TICKS:
                self._mark(symbol, Decimal(d["price"]))

    def _mark(self, symbol: str, price: Decimal) -> None:
        self._set_mark(symbol, price)
        self.account.market_marked.add(symbol)
        self._note_equity()

    def _set_mark(self, symbol: str, price: Decimal) -> None:
        a = self.account
        old = a.marks.get(symbol, ZERO)
        if price != old:
            exposure = a.exposure.get(symbol)
            if exposure:
                a.market_value = _add(a.market_value, _mul(exposure, _sub(price, old)))
            a.marks[symbol] = price

    def _note_equity(self) -> None:
        a = self.account
        equity = _add(a.cash, a.market_value)
        if equity > a.high_water_mark:
            a.high_water_mark = equity
