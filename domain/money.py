"""Decimal arithmetic in one explicit context, whatever the caller's context is."""

from __future__ import annotations

from decimal import Context, Decimal

# 34 significant digits (IEEE decimal128): enough for any price x quantity the
# ledger will see, and independent of the process-wide decimal context that a
# library might change.
CTX = Context(prec=34)
ZERO = Decimal(0)
ONE = Decimal(1)


def div(a: Decimal, b: Decimal) -> Decimal:
    return CTX.divide(a, b)


def sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)
