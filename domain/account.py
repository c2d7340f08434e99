"""The Account: cash, equity at the latest marks, high-water mark, the UTC day.

Equity = cash + sum of position quantity x mark x multiplier. A symbol's mark is
the latest BarEvent close or TRADE/LAST tick price; until one has arrived, the
last fill price. Cash moves only with fills (`cash_delta` on position events),
so the account is rebuilt from the same events as the positions.

The ledger keeps one Account for the configured account name: equity and the
kill switch are evaluated over everything the ledger holds (DESIGN.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from domain import events as ev
from domain.money import ONE, ZERO, div


@dataclass(slots=True)
class Holding:
    quantity: Decimal
    multiplier: Decimal


@dataclass(slots=True)
class Account:
    name: str
    currency: str
    starting_equity: Decimal
    version: int = 0
    opened: bool = False
    cash: Decimal = ZERO
    day: date | None = None
    opening_equity: Decimal = ZERO
    high_water_mark: Decimal = ZERO
    daily_returns: list[Decimal] = field(default_factory=list)
    # Returns of active days only (a position held or a fill made): the PSR's series. A
    # flat book's zero returns say nothing about the strategy's Sharpe ratio, and counting
    # them (e.g. a backtest's warm-up) would trip the PSR trigger on no evidence.
    active_returns: list[Decimal] = field(default_factory=list)
    traded_today: bool = False
    marks: dict[str, Decimal] = field(default_factory=dict)
    market_marked: set[str] = field(default_factory=set)
    holdings: dict[tuple[str, str], Holding] = field(default_factory=dict)
    # Sum over accounts of quantity x multiplier, per symbol, and the sum of that times
    # the mark: kept incrementally (exact Decimal sums) so equity is O(1) per event.
    exposure: dict[str, Decimal] = field(default_factory=dict)
    market_value: Decimal = ZERO

    def __post_init__(self) -> None:
        self.cash = self.starting_equity
        self.opening_equity = self.starting_equity
        self.high_water_mark = self.starting_equity

    # ------------------------------------------------------------------ figures

    def equity(self) -> Decimal:
        return self.cash + self.market_value

    def position_value(self, symbol: str, quantity: Decimal, multiplier: Decimal) -> Decimal:
        return quantity * self.marks.get(symbol, ZERO) * multiplier

    def drawdown(self, equity: Decimal) -> Decimal:
        """Fraction below the high-water mark (0.12 = 12 %)."""
        if self.high_water_mark <= 0:
            return ZERO
        return max(ZERO, div(self.high_water_mark - equity, self.high_water_mark))

    def daily_pnl_fraction(self, equity: Decimal) -> Decimal:
        if self.opening_equity <= 0:
            return ZERO
        return div(equity - self.opening_equity, self.opening_equity)

    def note_equity(self, equity: Decimal) -> None:
        """Derived state: the high-water mark follows every evaluated equity."""
        if equity > self.high_water_mark:
            self.high_water_mark = equity

    # ------------------------------------------------------------------ apply

    def apply_fill(self, event: ev.PositionEvent, last_fill_price: Decimal) -> None:
        """A position changed: cash moves; until the market marks the symbol, its mark is
        the last fill price (of the fills in sequence: a correction of an earlier fill does
        not move it)."""
        self.cash += event.cash_delta
        self.traded_today = True
        symbol = event.symbol
        if symbol not in self.market_marked:
            self._set_mark(symbol, last_fill_price)
        key = (event.account, symbol)
        old = self.holdings.get(key)
        delta = event.quantity * event.multiplier - (
            old.quantity * old.multiplier if old is not None else ZERO
        )
        self.holdings[key] = Holding(event.quantity, event.multiplier)
        if delta:
            self.exposure[symbol] = self.exposure.get(symbol, ZERO) + delta
            self.market_value += delta * self.marks.get(symbol, ZERO)

    def apply(self, event: ev.LedgerEvent) -> None:
        if isinstance(event, ev.AccountOpened):
            # The log is the record: a restart with another LEDGER_STARTING_EQUITY must not
            # change the books, so the opening figures come from the event.
            self.version = event.originator_version
            self.opened, self.day = True, event.day
            self.currency, self.starting_equity = event.currency, event.starting_equity
            self.cash += event.starting_equity - self.opening_equity
            self.opening_equity = self.high_water_mark = event.starting_equity
        elif isinstance(event, ev.AccountDayRolled):
            self.version = event.originator_version
            self.day, self.opening_equity = event.day, event.opening_equity
            self.daily_returns.append(event.daily_return)
            if event.active:
                self.active_returns.append(event.daily_return)
            self.traded_today = False

    def mark(self, symbol: str, price: Decimal) -> None:
        """A market price (bar close, TRADE/LAST tick) that is not older than the last one."""
        self._set_mark(symbol, price)
        self.market_marked.add(symbol)

    def _set_mark(self, symbol: str, price: Decimal) -> None:
        old = self.marks.get(symbol, ZERO)
        if price != old:
            exposure = self.exposure.get(symbol)
            if exposure:
                self.market_value += exposure * (price - old)
            self.marks[symbol] = price

    def day_roll_fields(self, new_day: date) -> dict[str, object]:
        equity = self.equity()
        ret = div(equity, self.opening_equity) - ONE if self.opening_equity > 0 else ZERO
        active = self.traded_today or any(h.quantity for h in self.holdings.values())
        return {
            "closed_day": self.day,
            "closing_equity": equity,
            "daily_return": ret,
            "day": new_day,
            "opening_equity": equity,
            "active": active,
        }
