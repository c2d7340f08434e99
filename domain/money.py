"""Decimal arithmetic in one explicit context, whatever the caller's context is."""

from __future__ import annotations

from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal

# 34 significant digits (IEEE decimal128): enough for any price x quantity the
# ledger will see, and independent of the process-wide decimal context that a
# library might change. The exponent range is the widest Decimal has: contract
# fields have no digit limit, so a valid (if absurd) 9E+999999 must not overflow.
CTX = Context(prec=34, Emax=MAX_EMAX, Emin=MIN_EMIN)
ZERO = Decimal(0)
ONE = Decimal(1)


def div(a: Decimal, b: Decimal) -> Decimal:
    return CTX.divide(a, b)


def sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)
