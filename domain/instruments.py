"""Instruments: symbol -> asset class, multiplier, currency, price increment.

A symbol not in the table is an instrument with multiplier 1 quoted in the account
currency. The table is parsed from text here (CSV with the header
`symbol,asset_class,multiplier,currency,price_increment`); reading the file is the
adapters' job. PnL is in the instrument's currency; no FX conversion is made.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from domain.errors import InstrumentsFileError

HEADER = ["symbol", "asset_class", "multiplier", "currency", "price_increment"]


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    asset_class: str = "STK"
    multiplier: Decimal = Decimal(1)
    currency: str = ""
    price_increment: Decimal = Decimal("0.01")


class Instruments:
    def __init__(self, items: dict[str, Instrument] | None = None, currency: str = "USD") -> None:
        self._items = dict(items or {})
        self._currency = currency

    def get(self, symbol: str) -> Instrument:
        found = self._items.get(symbol)
        return found if found is not None else Instrument(symbol, currency=self._currency)

    def multiplier(self, symbol: str) -> Decimal:
        found = self._items.get(symbol)
        return found.multiplier if found is not None else Decimal(1)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, Instrument]]:
        """Every configured instrument, by symbol (sorted: a stable fingerprint)."""
        return sorted(self._items.items())


def parse_instruments_csv(text: str, currency: str = "USD") -> Instruments:
    reader = csv.reader(io.StringIO(text))
    rows = [r for r in reader if r and not r[0].startswith("#")]
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        raise InstrumentsFileError(
            f"instruments file must start with the header {','.join(HEADER)}"
        )
    items: dict[str, Instrument] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) != len(HEADER):
            raise InstrumentsFileError(f"line {line_no}: expected {len(HEADER)} fields")
        symbol, asset_class, mult, cur, inc = (c.strip() for c in row)
        try:
            multiplier, increment = Decimal(mult), Decimal(inc)
        except InvalidOperation as e:
            raise InstrumentsFileError(f"line {line_no}: not a number") from e
        if not symbol or multiplier <= 0 or increment <= 0:
            raise InstrumentsFileError(f"line {line_no}: symbol, multiplier > 0, increment > 0")
        items[symbol] = Instrument(
            symbol, asset_class or "STK", multiplier, cur or currency, increment
        )
    return Instruments(items, currency)
