"""Exposure arithmetic the kill switch needs: what positions and working orders add up to.

Pure functions over the ledger's orders and positions, so the rules read apart from
the event plumbing:
- REDUCING lets an intent through only if, counting what other working orders will do,
  it brings the position closer to zero without crossing it (two exits that each reduce
  a position may together open one on the other side);
- HALT_AND_FLATTEN flattens what is still open once the flatten orders already working
  have filled (a second trip must not double them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from domain.money import ZERO
from domain.order import Order
from domain.position import Position


def working_exposure(
    orders: Iterable[Order],
    account: str,
    symbol: str,
    *,
    exclude: Order | None = None,
    origin: str | None = None,
) -> Decimal:
    """Signed quantity that the working orders on (account, symbol) still have to fill."""
    return sum(
        (
            o.signed_remaining
            for o in orders
            if o.is_working
            and o is not exclude
            and o.account == account
            and o.symbol == symbol
            and (origin is None or o.origin == origin)
        ),
        ZERO,
    )


def reduces(position: Decimal, pending: Decimal, signed: Decimal) -> bool:
    before = position + pending
    after = before + signed
    return (
        position != 0
        and abs(after) < abs(before)
        and abs(after) <= abs(position)
        and (after == 0 or (after > 0) == (position > 0))
    )


def to_flatten(
    positions: Mapping[tuple[str, str], Position], orders: Iterable[Order]
) -> list[tuple[str, str, Decimal]]:
    """(account, symbol, signed quantity still open after the working flatten orders)."""
    working = list(orders)
    out = []
    for (account, symbol), pos in sorted(positions.items()):
        left = pos.quantity + working_exposure(working, account, symbol, origin="killswitch")
        if left != 0:
            out.append((account, symbol, left))
    return out
