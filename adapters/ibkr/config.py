"""Connection settings for Interactive Brokers, and the checks that keep a
paper strategy off a live account (and the reverse).

Settings come from the environment (`LEDGER_IBKR_HOST`, `LEDGER_IBKR_PORT`,
`LEDGER_IBKR_CLIENT_ID`, `LEDGER_IBKR_ACCOUNT`, ...) and are overridden by the
values given explicitly (the CLI flags): `IbkrSettings.load(port=4002)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.broker.port import BrokerConfigError

LIVE_PORTS = frozenset({7496, 4001})  # TWS live, IB Gateway live
PAPER_PORTS = frozenset({7497, 4002})  # TWS paper, IB Gateway paper

AccountKind = Literal["paper", "live", "unknown"]


class IbkrSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_IBKR_", frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=4002, ge=1, le=65535)
    client_id: int = Field(default=1, ge=0)
    account: str | None = None
    # ib_async waits this long for the socket, the handshake and each startup
    # request; a closed port fails at once, a black-holed host after this.
    connect_timeout: float = Field(default=4.0, gt=0)
    # Contract defaults for a bare symbol (no instruments file entry).
    exchange: str = "SMART"
    currency: str = "USD"
    sec_type: str = "STK"
    # Below IB's 50 messages/s; ib_async itself throttles at 45/s.
    max_orders_per_second: int = Field(default=40, ge=1, le=45)
    # How long a fill waits for its commission report before it is reported
    # without one (IB sends the commission right after the execution).
    commission_wait: float = Field(default=2.0, ge=0)
    # Delays between reconnection attempts after an unexpected disconnect;
    # the last one repeats. Empty: do not reconnect.
    reconnect_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0)

    @classmethod
    def load(cls, **overrides: Any) -> IbkrSettings:
        """Environment values, overridden by every explicit value that is not None."""
        given = {name: value for name, value in overrides.items() if value is not None}
        return cls(**given)


def account_kind(account: str) -> AccountKind:
    """Paper accounts start `DU` (or `DF` for a paper advisor master), live ones
    `U` (or `F`). Anything else is not classified."""
    if account.startswith(("DU", "DF")):
        return "paper"
    if account.startswith(("U", "F")):
        return "live"
    return "unknown"


def check_port_account(port: int, account: str | None) -> list[str]:
    """Refuse a paper account on a standard live port and a live account on a
    standard paper port (BrokerConfigError). Return warnings for what cannot be
    checked: a non-standard port, or an account of unknown kind."""
    warnings: list[str] = []
    standard = port in LIVE_PORTS or port in PAPER_PORTS
    if not standard:
        warnings.append(
            f"port {port} is not a standard TWS/Gateway port (live 7496/4001, paper 7497/4002):"
            " paper/live cannot be checked from the port"
        )
    if account is None:
        return warnings
    kind = account_kind(account)
    if kind == "paper" and port in LIVE_PORTS:
        raise BrokerConfigError(f"paper account {account} on live port {port}: refused")
    if kind == "live" and port in PAPER_PORTS:
        raise BrokerConfigError(f"live account {account} on paper port {port}: refused")
    if kind == "unknown":
        warnings.append(f"account {account} is neither a paper (DU…) nor a live (U…) account")
    return warnings


def resolve_account(configured: str | None, managed: Sequence[str]) -> str:
    """The account to trade: the configured one if the gateway manages it, or the
    gateway's only account when none is configured (BrokerConfigError otherwise)."""
    if configured is not None:
        if configured not in managed:
            raise BrokerConfigError(
                f"account {configured} is not managed by this gateway"
                f" (it manages: {', '.join(managed) or 'none'})"
            )
        return configured
    if len(managed) == 1:
        return managed[0]
    raise BrokerConfigError(
        f"the gateway manages {len(managed)} accounts ({', '.join(managed)}):"
        " set LEDGER_IBKR_ACCOUNT or --account"
    )
