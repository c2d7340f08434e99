"""`--broker ibkr|sim`: the broker port for a name, shared by `reconcile` and `serve`.

- ibkr: `IbkrBroker`, settings from the flags over `LEDGER_IBKR_*`.
- sim: the simulated broker, its book rebuilt from the ledger's log (the
  venue's state is what the ledger recorded: working orders keep working
  across restarts), trading the ledger's account on the ledger's clock.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ValidationError

from adapters.broker.port import BrokerConfigError, BrokerPort
from adapters.broker.sim import SimBroker
from adapters.ibkr import IbkrBroker, IbkrSettings
from domain.application import LedgerApplication

BrokerName = Literal["ibkr", "sim"]
BROKERS: tuple[BrokerName, ...] = ("ibkr", "sim")


def open_broker(
    name: str,
    app: LedgerApplication,
    *,
    host: str | None = None,
    port: int | None = None,
    client_id: int | None = None,
    account: str | None = None,
) -> BrokerPort:
    """Raises BrokerConfigError for an unknown broker or a bad setting."""
    if name == "ibkr":
        try:
            settings = IbkrSettings.load(host=host, port=port, client_id=client_id, account=account)
        except ValidationError as e:
            raise BrokerConfigError(f"bad IBKR setting: {_first_error(e)}") from e
        return IbkrBroker(settings)
    if name == "sim":
        if any(v is not None for v in (host, port, client_id)):
            raise BrokerConfigError("--host, --port and --client-id are for --broker ibkr")
        config = app.config
        broker = SimBroker.from_events(
            app.read_events(), account=account or config.account, currency=config.currency
        )
        broker.clock = app.clock
        return broker
    raise BrokerConfigError(f"unknown broker {name!r} (known: {', '.join(BROKERS)})")


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
    return f"{where}: {err.get('msg', 'invalid')}"
