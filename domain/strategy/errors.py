"""Errors raised by the strategy maths.

Only caller mistakes raise (wrong shapes, impossible settings). Trouble that
real data or a solver can cause at run time - an infeasible problem, a failed
HMM fit, NaNs in a covariance - is reported in the result objects instead,
because the backtest and the strategy plane must keep running through it.
"""

from __future__ import annotations


class StrategyError(Exception):
    """Base class of the strategy maths' errors."""


class StrategyInputError(StrategyError, ValueError):
    """An argument has the wrong shape, length or range."""


class StrategyConfigError(StrategyError, ValueError):
    """A `StrategyConfig` or optimiser setting is out of range."""
