"""The KillSwitch: ARMED, REDUCING (only exposure-reducing orders pass), TRIPPED (halted).

Transitions are one table. The risk policy trips it; only an operator moves it
back, with a reason. Triggers (DESIGN.md §3), each leading to TRIPPED:
- daily loss: PnL since the start of the UTC day below -5 % of the day's opening
  equity -> HALT_AND_FLATTEN;
- drawdown: equity more than 15 % below its high-water mark -> HALT_AND_FLATTEN;
- Probabilistic Sharpe Ratio of daily returns below 0.20, once at least 30 daily
  returns exist -> HALT_AND_INVESTIGATE; the returns are those of active days (a
  position held or a fill made), since a flat book's zero returns are no evidence;
- manual trip by an operator -> HALT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from domain import events as ev
from domain.errors import KillSwitchCommandRefused
from domain.money import CTX, ONE, ZERO, div


class KillSwitchState(StrEnum):
    ARMED = "ARMED"
    REDUCING = "REDUCING"
    TRIPPED = "TRIPPED"


class KillSwitchCommand(StrEnum):
    TRIP = "TRIP"
    ARM = "ARM"
    REDUCE_ONLY = "REDUCE_ONLY"


K = KillSwitchState
C = KillSwitchCommand

TRANSITIONS: dict[tuple[KillSwitchState, KillSwitchCommand], KillSwitchState] = {
    (K.ARMED, C.TRIP): K.TRIPPED,
    (K.ARMED, C.REDUCE_ONLY): K.REDUCING,  # an operator may restrict without a trip
    (K.REDUCING, C.TRIP): K.TRIPPED,
    (K.REDUCING, C.ARM): K.ARMED,
    (K.TRIPPED, C.ARM): K.ARMED,
    (K.TRIPPED, C.REDUCE_ONLY): K.REDUCING,  # let exits through after a trip
}


@dataclass(frozen=True, slots=True)
class RiskLimits:
    daily_loss: Decimal = Decimal("0.05")
    drawdown: Decimal = Decimal("0.15")
    psr_threshold: Decimal = Decimal("0.20")
    psr_min_returns: int = 30


@dataclass(frozen=True, slots=True)
class Breach:
    trigger: str
    action: str
    measure: Decimal
    threshold: Decimal
    reason: str


@dataclass(slots=True)
class KillSwitch:
    state: KillSwitchState = K.ARMED
    version: int = 0
    since: datetime | None = None
    reason: str = ""
    by: str = ""
    trigger: str = ""

    def apply(self, event: ev.KillSwitchEvent) -> None:
        self.version = event.originator_version
        self.state = K(event.state)
        self.since, self.reason, self.by = event.recorded_at, event.reason, event.by
        self.trigger = event.trigger if isinstance(event, ev.KillSwitchTripped) else ""

    def target(self, command: KillSwitchCommand) -> KillSwitchState:
        nxt = TRANSITIONS.get((self.state, command))
        if nxt is None:
            raise KillSwitchCommandRefused(
                f"cannot {command.value} the kill switch while it is {self.state.value}"
            )
        return nxt


def check_equity(
    limits: RiskLimits, equity: Decimal, opening_equity: Decimal, high_water_mark: Decimal
) -> Breach | None:
    """Daily loss and drawdown, compared by multiplication (no division on the hot path);
    the fractions are computed only for the breach that is reported."""
    if opening_equity > 0 and opening_equity - equity > limits.daily_loss * opening_equity:
        loss = div(opening_equity - equity, opening_equity)
        return Breach(
            "daily_loss",
            "HALT_AND_FLATTEN",
            loss,
            limits.daily_loss,
            f"daily loss {_pct(loss)} exceeds {_pct(limits.daily_loss)}",
        )
    if high_water_mark > 0 and high_water_mark - equity > limits.drawdown * high_water_mark:
        drawdown = div(high_water_mark - equity, high_water_mark)
        return Breach(
            "drawdown",
            "HALT_AND_FLATTEN",
            drawdown,
            limits.drawdown,
            f"drawdown {_pct(drawdown)} exceeds {_pct(limits.drawdown)}",
        )
    return None


def check_psr(limits: RiskLimits, returns: list[Decimal]) -> Breach | None:
    if len(returns) < limits.psr_min_returns:
        return None
    value = probabilistic_sharpe_ratio(returns)
    if value is None or value >= limits.psr_threshold:
        return None
    return Breach(
        "psr",
        "HALT_AND_INVESTIGATE",
        value,
        limits.psr_threshold,
        f"PSR {value:.4f} of {len(returns)} daily returns below {limits.psr_threshold}",
    )


def probabilistic_sharpe_ratio(returns: list[Decimal], benchmark: Decimal = ZERO) -> Decimal | None:
    """Bailey & Lopez de Prado's PSR: P(true Sharpe > benchmark) from n returns.

    Moments in Decimal; the normal CDF is the one place this goes through binary
    floating point (math.erf), rounded back to 12 places so the decision is stable.
    None when the Sharpe ratio is undefined (no variance) or the variance term is not
    positive.
    """
    n = len(returns)
    if n < 3:
        return None
    mean = div(sum(returns, ZERO), Decimal(n))
    dev = [r - mean for r in returns]
    m2 = div(sum((d * d for d in dev), ZERO), Decimal(n))
    if m2 == 0:
        return None
    std_sample = CTX.sqrt(div(m2 * n, Decimal(n - 1)))
    sr = div(mean - benchmark, std_sample)
    m3 = div(sum((d * d * d for d in dev), ZERO), Decimal(n))
    m4 = div(sum((d * d * d * d for d in dev), ZERO), Decimal(n))
    skew = div(m3, m2 * CTX.sqrt(m2))
    kurt = div(m4, m2 * m2)
    var_term = ONE - skew * sr + div(kurt - ONE, Decimal(4)) * sr * sr
    if var_term <= 0:
        return None
    z = div(sr * CTX.sqrt(Decimal(n - 1)), CTX.sqrt(var_term))
    cdf = (1.0 + math.erf(z / CTX.sqrt(Decimal(2)))) / 2.0
    return Decimal(repr(cdf)).quantize(Decimal("1e-12"))


def _pct(x: Decimal) -> str:
    return f"{(x * 100).quantize(Decimal('0.01'))} %"
